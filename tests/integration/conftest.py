"""Real brokers for integration tests: mosquitto (Debian package) and the embedded amqtt.

Locally a missing mosquitto skips its tests; in CI (CI=true) it is an error, since .ci/run
installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Protocol

import pytest

from thingmodel.brokers import EmbeddedBroker, Mosquitto
from thingmodel.cloud import LocalCloud


class Broker(Protocol):
    host: str
    port: int

    @property
    def url(self) -> str: ...

    def start(self, timeout: float = ...) -> object: ...

    def stop(self) -> None: ...


def _need_mosquitto() -> None:
    if shutil.which("mosquitto") is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed; .ci/run must install it")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    if request.param == "mosquitto":
        _need_mosquitto()
        with Mosquitto() as mosquitto:
            yield mosquitto
    else:
        embedded = EmbeddedBroker().start()
        try:
            yield embedded
        finally:
            embedded.stop()


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    _need_mosquitto()
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def cloud(broker: Broker) -> Iterator[LocalCloud]:
    with LocalCloud(broker=broker.url) as local:
        yield local
