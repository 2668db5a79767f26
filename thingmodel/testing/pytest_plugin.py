"""pytest plugin (registered by installing thingmodel): the ``fake_cloud`` fixture.

def test_alarm(fake_cloud):
    cloud = fake_cloud(SmokeDetector())
    assert cloud.desire({"alarm": 1}).ok
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..declare.service import Service
from . import FakeCloud


@pytest.fixture
def fake_cloud() -> Iterator[Callable[..., FakeCloud]]:
    """A factory of :class:`~thingmodel.testing.FakeCloud`; each is closed after the test."""
    clouds: list[FakeCloud] = []

    def make(*services: Service, **options: Any) -> FakeCloud:
        cloud = FakeCloud(*services, **options)
        clouds.append(cloud)
        return cloud

    yield make
    for cloud in clouds:
        cloud.close()
