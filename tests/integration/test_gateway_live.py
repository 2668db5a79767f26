"""Our Gateway against the local cloud on Huawei and Tencent: children as devices of their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud
from thingmodel.gateway import Gateway
from thingmodel.vendors import shadow_key

from .conftest import Broker
from .helpers import Detector, eventually, fast_backoff

VENDORS = ["huawei", "tencent-hub", "tencent-explorer"]
SECRET = "c2VjcmV0LW9mLWEtY2hpbGQ="  # a child's device secret (Tencent's bind signs with it)


def product(cloud: LocalCloud) -> str | None:
    """Huawei adds a child to a product; a Tencent child's product is in its id."""
    return None if cloud.vendor.startswith("tencent") else "detector"


def ids(vendor: str) -> tuple[str, str, str]:
    if vendor.startswith("tencent"):
        return "GWPROD0001.gw1", "SUBPROD001.kitchen", "SUBPROD001.hall"
    return "gw-1", "kitchen-1", "hall-1"


@pytest.fixture(params=VENDORS)
def vendor_cloud(request: pytest.FixtureRequest, broker: Broker) -> Iterator[LocalCloud]:
    with LocalCloud(vendor=request.param, broker=broker.url) as cloud:
        yield cloud


def gateway_for(cloud: LocalCloud) -> Gateway:
    gateway_id, _, _ = ids(cloud.vendor)
    return Gateway(
        [Detector()], device_id=gateway_id, vendor=cloud.vendor, broker=cloud.url, backoff=fast_backoff()
    )


def reported(cloud: LocalCloud, gateway: Gateway, child: str) -> dict[str, Any]:
    key = shadow_key(gateway.children[child].session.codec, "smokeDetector")
    return dict(cloud.get_shadow(child).get(key, {}).get("reported", {}))


def test_children_are_added_go_online_and_report_into_their_own_shadows(vendor_cloud: LocalCloud) -> None:
    gateway = gateway_for(vendor_cloud)
    _, kitchen_id, hall_id = ids(vendor_cloud.vendor)
    kitchen, hall = Detector(), Detector()
    kitchen.temperature, hall.temperature = 21.5, 19.0
    gateway.add_child(kitchen_id, [kitchen], product_id=product(vendor_cloud), secret=SECRET)
    gateway.add_child(hall_id, [hall], product_id=product(vendor_cloud), secret=SECRET)
    with gateway:
        eventually(
            lambda: kitchen_id in vendor_cloud.devices() and hall_id in vendor_cloud.devices(),
            what="children",
        )
        eventually(lambda: all(c.online for c in gateway.children.values()), what="children online")
        kitchen.report()
        hall.report()
        eventually(
            lambda: reported(vendor_cloud, gateway, kitchen_id).get("temperature") == 21.5, what="kitchen"
        )
        eventually(lambda: reported(vendor_cloud, gateway, hall_id).get("temperature") == 19.0, what="hall")
        assert not [e for e in gateway.errors if e.kind in ("gateway", "encode", "malformed")], list(
            gateway.errors
        )


def test_a_desire_and_a_command_for_a_child_reach_only_that_child(vendor_cloud: LocalCloud) -> None:
    own, child = Detector(), Detector()
    gateway_id, child_id, _ = ids(vendor_cloud.vendor)
    gateway = Gateway([own], device_id=gateway_id, vendor=vendor_cloud.vendor, broker=vendor_cloud.url)
    gateway.add_child(child_id, [child], product_id=product(vendor_cloud), secret=SECRET)
    with gateway:
        eventually(lambda: gateway.children[child_id].online, what="the child online")
        child.report()
        eventually(lambda: bool(reported(vendor_cloud, gateway, child_id)), what="the child's first report")
        key = shadow_key(gateway.children[child_id].session.codec, "smokeDetector")
        outcome = vendor_cloud.set_desired(child_id, key, {"alarm": 1})
        assert outcome.ok, outcome
        assert child.set_calls == [1] and own.set_calls == []
        eventually(lambda: reported(vendor_cloud, gateway, child_id).get("alarm") == 1, what="the new value")
        if vendor_cloud.vendor != "tencent-hub":  # IoT Hub's shadow protocol has no commands
            answer = vendor_cloud.send_command(child_id, "smokeDetector", "ringAlarm", {"duration": 4})
            assert answer.ok and answer.params == {"rang": 4}, answer
            assert child.commands == [4] and own.commands == []


def test_a_child_removed_is_gone_from_the_gateway_and_offline(vendor_cloud: LocalCloud) -> None:
    gateway = gateway_for(vendor_cloud)
    _, child_id, _ = ids(vendor_cloud.vendor)
    gateway.add_child(child_id, [Detector()], product_id=product(vendor_cloud), secret=SECRET)
    with gateway:
        eventually(lambda: gateway.children[child_id].online, what="the child online")
        gateway.remove_child(child_id)
        assert child_id not in gateway.children
        eventually(
            lambda: child_id not in vendor_cloud.gateways.children_of(gateway.device_id),
            what="the cloud forgets it",
        )
