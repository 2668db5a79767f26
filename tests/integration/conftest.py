"""Real brokers for integration tests: mosquitto (Debian package) and the embedded amqtt.

Locally a missing mosquitto skips its tests; in CI (CI=true) it is an error, since .ci/run
installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from thingmodel.brokers import EmbeddedBroker, Mosquitto
from thingmodel.cloud import LocalCloud

from .certs import make_ca, make_server


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


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("pki")
    directory.chmod(0o755)
    ca = make_ca(directory, "test-ca")
    other_ca = make_ca(directory, "other-ca")
    server = make_server(directory, ca, "server", "IP:127.0.0.1,DNS:localhost")
    elsewhere = make_server(directory, ca, "elsewhere", "DNS:elsewhere.example")
    return {
        "ca": ca[0],
        "other_ca": other_ca[0],
        "cert": server[0],
        "key": server[1],
        "elsewhere_cert": elsewhere[0],
        "elsewhere_key": elsewhere[1],
    }
