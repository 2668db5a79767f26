"""Huawei's own Python device SDK (1.2.0, from ../shared/peers/huawei) as a *gateway* against the
local cloud: its ``AbstractGateway`` (written as ``iot_gateway_demo`` writes one) adds children,
reports their status, sends their properties in batch reports, and receives commands and
messages for them, all over its one connection.

The cloud runs with a registry that holds the gateway alone (its children have no secret, as
on IoTDA, where a gateway creates them). The SDK runs in its own venv (made on first use, or
THINGMODEL_HUAWEI_PYTHON) as ``peers/huawei_gateway.py``, driven through its stdin; each
assertion is on what the SDK's callbacks received (one JSON line each) and on what the cloud
kept or answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.registry import Registry
from thingmodel.errors import UnknownDevice

from ..integration.helpers import eventually
from .huawei_peer import Peer as SdkPeer
from .huawei_peer import huawei_python as sdk_python
from .huawei_peer import needs_sdk, running
from .peer_process import WAIT, Step

PEER = Path(__file__).parent / "peers" / "huawei_gateway.py"
SECRET = "secret-of-the-sdk-gateway"
PRODUCT = "meter-product"

pytestmark = needs_sdk


@pytest.fixture(scope="session")
def huawei_python() -> str:
    return sdk_python()


GATEWAY_IDS = [f"hw-sdk-gw-{n}" for n in range(10)]
UNUSED = list(GATEWAY_IDS)
#: a registered device that connects by itself, which no gateway may speak for
BYSTANDER = "bystander"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    registry = Registry.new(tmp_path_factory.mktemp("registry") / "registry.json", "huawei")
    for gateway_id in GATEWAY_IDS:
        registry.add(gateway_id, SECRET)
    registry.add(BYSTANDER, "secret-of-the-bystander")
    registry.save()
    return registry


@pytest.fixture(scope="module")
def cloud(registry: Registry) -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port(), registry=registry) as cloud:
        yield cloud


class Peer(SdkPeer):
    """The SDK gateway, running peers/huawei_gateway.py."""

    def __init__(self, python: str, port: int, gateway_id: str) -> None:
        self.gateway_id = gateway_id
        super().__init__(python, PEER, "127.0.0.1", str(port), gateway_id, SECRET)

    # -- what the tests ask of it ---------------------------------------------------------------
    def child(self, n: int) -> str:
        return f"{self.gateway_id}-child-{n}"

    def add_children(self, *numbers: int, event_id: str = "add-1") -> Step:
        """Add the children; the SDK listener's ``add_response`` step."""
        children = [
            {"node_id": f"node-{n}", "product_id": PRODUCT, "device_id": self.child(n), "name": f"meter {n}"}
            for n in numbers
        ]
        seen = self.count("add_response")
        self.do("add", children=children, event_id=event_id)
        return self.wait_for("the add answer", lambda s: s["step"] == "add_response", after=seen)


@pytest.fixture
def peer(cloud: LocalCloud, huawei_python: str) -> Iterator[Peer]:
    yield from running(Peer(huawei_python, cloud.port, UNUSED.pop(0)))  # a gateway of its own a test


def online(cloud: LocalCloud, device_id: str) -> bool | None:
    try:
        return cloud.summary(device_id).online
    except UnknownDevice:
        return None


def test_its_add_request_is_answered_and_the_cloud_then_lists_the_children(
    cloud: LocalCloud, registry: Registry, peer: Peer
) -> None:
    answer = peer.add_children(1, 2, event_id="add-42")
    assert answer["event_id"] == "add-42"  # the SDK's listener got the answer to its own request
    assert answer["successful"] == [
        {"device_id": peer.child(1), "node_id": "node-1", "product_id": PRODUCT},
        {"device_id": peer.child(2), "node_id": "node-2", "product_id": PRODUCT},
    ]
    assert answer["failed"] == []
    # the listener then syncs (as the demo's does): the cloud answers with an add notify, which
    # the SDK's AbstractGateway hands to its SubDevicesPersistence
    added = peer.wait_for("the sync's notify", lambda s: s["step"] == "children_added")
    assert added["result"] == 0 and added["version"] == cloud.gateways.version_of(peer.gateway_id) > 0
    assert [(d["device_id"], d["node_id"], d["parent_device_id"]) for d in added["devices"]] == [
        (peer.child(1), "node-1", peer.gateway_id),
        (peer.child(2), "node-2", peer.gateway_id),
    ]
    assert {peer.child(1), peer.child(2)} <= set(cloud.devices())
    assert cloud.gateways.parent_of(peer.child(1)) == peer.gateway_id
    assert peer.child(1) not in registry  # a child has no secret of its own: it never connects


def test_its_status_report_shows_its_children_online_and_offline(cloud: LocalCloud, peer: Peer) -> None:
    peer.add_children(1, 2)
    assert online(cloud, peer.child(1)) is False  # added, not yet said online
    peer.do("status", statuses={peer.child(1): "ONLINE"})
    eventually(lambda: online(cloud, peer.child(1)) is True, what="the child online")
    assert online(cloud, peer.child(2)) is False
    peer.do("status", statuses={peer.child(1): "OFFLINE", peer.child(2): "ONLINE"})
    eventually(lambda: online(cloud, peer.child(2)) is True, what="the second child online")
    eventually(lambda: online(cloud, peer.child(1)) is False, what="the first child offline")


def test_its_batch_report_lands_in_each_child_s_own_shadow(cloud: LocalCloud, peer: Peer) -> None:
    peer.add_children(1, 2)
    reports = {
        peer.child(1): {"meter": {"kwh": 1.5, "volts": 230}},
        peer.child(2): {"meter": {"kwh": 7.25}},
    }
    peer.do("report", reports=reports)

    def reported(device_id: str) -> dict[str, Any]:
        return dict(cloud.get_shadow(device_id).get("meter", {}).get("reported", {}))

    eventually(lambda: reported(peer.child(2)) == {"kwh": 7.25}, what="the second child's report")
    assert reported(peer.child(1)) == {"kwh": 1.5, "volts": 230}
    assert "meter" not in cloud.get_shadow(peer.gateway_id)


def test_a_command_to_a_child_reaches_the_sdk_s_sub_device_callback_and_its_answer_the_app(
    cloud: LocalCloud, peer: Peer
) -> None:
    peer.add_children(1, 2)
    peer.do("status", statuses={peer.child(1): "ONLINE", peer.child(2): "ONLINE"})
    eventually(lambda: online(cloud, peer.child(1)) is True, what="the child online")
    outcome = cloud.send_command(peer.child(1), "meter", "blink", {"times": 3}, timeout=WAIT)
    assert outcome.ok, outcome
    assert dict(outcome.params) == {"blinked": 3, "by": peer.child(1)}
    [command] = [s for s in peer.steps if s["step"] == "sub_command"]
    assert command == {
        "step": "sub_command",
        "request_id": outcome.request_id,
        "device_id": peer.child(1),
        "service_id": "meter",
        "command_name": "blink",
        "paras": {"times": 3},
    }


def test_messages_and_events_go_to_and_from_a_child_through_the_sdk_gateway(
    cloud: LocalCloud, peer: Peer
) -> None:
    peer.add_children(1)
    cloud.send_message(peer.child(1), b"calibrate now")
    message = peer.wait_for("the child's message", lambda s: s["step"] == "sub_message")
    assert (message["object_device_id"], message["content"]) == (peer.child(1), "calibrate now")
    peer.do("child_message", device_id=peer.child(1), content="calibrated")
    peer.do(
        "child_event", device_id=peer.child(1), service_id="meter", event_type="overload", paras={"at": 9}
    )
    eventually(lambda: bool(cloud.activity(peer.child(1)).events), what="the child's event")
    activity = cloud.activity(peer.child(1))
    assert [m.payload for m in activity.messages] == [b"calibrated"]
    assert [(e.service_id, e.event_type, dict(e.params)) for e in activity.events] == [
        ("meter", "overload", {"at": 9})
    ]
    assert cloud.activity(peer.gateway_id).events == ()


def test_its_delete_request_is_answered_and_the_child_is_gone(cloud: LocalCloud, peer: Peer) -> None:
    peer.add_children(1, 2)
    seen = peer.count("delete_response")
    peer.do("delete", device_ids=[peer.child(2), "not-a-child"], event_id="del-7")
    answer = peer.wait_for("the delete answer", lambda s: s["step"] == "delete_response", after=seen)
    assert answer == {
        "step": "delete_response",
        "event_id": "del-7",
        "successful": [peer.child(2)],
        "failed": ["not-a-child"],
    }
    assert cloud.gateways.parent_of(peer.child(2)) is None
    assert [c.device_id for c in cloud.gateways.children_of(peer.gateway_id)] == [peer.child(1)]


def test_a_device_that_is_not_its_child_is_out_of_its_reach(cloud: LocalCloud, peer: Peer) -> None:
    peer.add_children(1)
    cloud.set_desired(BYSTANDER, "meter", {"limit": 1}, timeout=0.1)  # a device with a shadow
    peer.do("report", reports={BYSTANDER: {"meter": {"limit": 9}}, peer.child(1): {"meter": {"kwh": 1}}})
    eventually(lambda: bool(cloud.get_shadow(peer.child(1))), what="the child's report")
    assert cloud.get_shadow(BYSTANDER)["meter"]["reported"] == {}  # the entry naming it went nowhere
    assert cloud.get_shadow(peer.child(1))["meter"]["reported"] == {"kwh": 1}
