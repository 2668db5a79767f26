"""A gateway on AWS IoT: one connection serving several things' shadows, against the local cloud."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud
from thingmodel.errors import InvalidValue
from thingmodel.gateway import Gateway
from thingmodel.vendors import shadow_key

from .conftest import Broker
from .helpers import Detector, eventually, fast_backoff


@pytest.fixture
def aws_cloud(broker: Broker) -> Iterator[LocalCloud]:
    with LocalCloud(vendor="aws", broker=broker.url) as cloud:
        yield cloud


def reported(cloud: LocalCloud, gateway: Gateway, thing: str) -> dict[str, Any]:
    key = shadow_key(gateway.children[thing].session.codec, "smokeDetector")
    return dict(cloud.get_shadow(thing).get(key, {}).get("reported", {}))


def test_children_report_into_their_own_shadows_over_the_gateways_connection(aws_cloud: LocalCloud) -> None:
    gateway = Gateway(
        [Detector()], device_id="gw-aws", vendor="aws", broker=aws_cloud.url, backoff=fast_backoff()
    )
    kitchen, hall = Detector(), Detector()
    kitchen.temperature, hall.temperature = 21.5, 19.0
    gateway.add_child("kitchen", [kitchen])
    gateway.add_child("hall", [hall])
    with gateway:
        kitchen.report()
        hall.report()
        eventually(lambda: reported(aws_cloud, gateway, "kitchen").get("temperature") == 21.5, what="kitchen")
        eventually(lambda: reported(aws_cloud, gateway, "hall").get("temperature") == 19.0, what="hall")
        assert gateway.transport.loop.connections >= 1
        assert "temperature" not in reported_gateway(aws_cloud)


def reported_gateway(cloud: LocalCloud) -> dict[str, Any]:
    shadow = cloud.get_shadow("gw-aws")
    return {k: v for section in shadow.values() for k, v in section.get("reported", {}).items()}


def test_a_desire_for_a_child_runs_the_childs_setter_only(aws_cloud: LocalCloud) -> None:
    own, child = Detector(), Detector()
    gateway = Gateway([own], device_id="gw-aws-2", vendor="aws", broker=aws_cloud.url, backoff=fast_backoff())
    gateway.add_child("porch", [child])
    with gateway:
        child.report()
        eventually(lambda: bool(reported(aws_cloud, gateway, "porch")), what="the child's first report")
        key = shadow_key(gateway.children["porch"].session.codec, "smokeDetector")
        outcome = aws_cloud.set_desired("porch", key, {"alarm": 1})
        assert outcome.ok, outcome
        assert child.set_calls == [1] and own.set_calls == []
        eventually(lambda: reported(aws_cloud, gateway, "porch").get("alarm") == 1, what="the new value")


def test_a_child_with_the_gateways_own_id_is_refused(aws_cloud: LocalCloud) -> None:
    gateway = Gateway([Detector()], device_id="gw-aws-3", vendor="aws", broker=aws_cloud.url)
    with pytest.raises(InvalidValue, match="its own child"):
        gateway.add_child("gw-aws-3", [Detector()])
    gateway.add_child("attic", [Detector()])
    with pytest.raises(InvalidValue, match="already"):
        gateway.add_child("attic", [Detector()])
