"""The local cloud as Huawei IoTDA's gateway side: children a gateway adds become devices with
their own shadows, its batch reports land in each child's shadow, what an application does to
a child goes out on the gateway's topics and the child's answer comes back as the child's, the
children's presence follows what the gateway says (and goes when the gateway goes), and a
gateway naming a device that is not its child is refused.

The first part drives ``ShadowCloud`` directly with IoTDA payloads built here from the reference
notes (aws-more.md 3, huawei-iotda.md 1.2), not by our device codec; the second runs the live
local cloud on its embedded broker against thingmodel's own ``Gateway``, in development mode
and with a registry (where the gateway signs in with its secret and its children have none).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud, ShadowCloud
from thingmodel.cloud.gateways import BookFile, GatewayBook
from thingmodel.cloud.registry import Registry
from thingmodel.errors import DeviceOffline, InvalidValue, UnknownDevice
from thingmodel.gateway import Gateway
from thingmodel.protocol import messages as ev
from thingmodel.protocol.gateway import ChildInfo
from thingmodel.vendors import huawei, platform_codec

from ..integration.helpers import Detector, eventually, fast_backoff
from ..vendors.golden import counter

GATEWAY, CHILD, OTHER, STRANGER = "gw-1", "meter-1", "meter-2", "stranger"
G = f"$oc/devices/{GATEWAY}/sys/"
PRODUCT = "prod-1"


class Rig:
    """A Huawei ShadowCloud and everything it published, as (topic, JSON)."""

    def __init__(self) -> None:
        self.published: list[ev.Outgoing] = []
        self.children_said: list[tuple[str, dict[str, bool]]] = []
        self.cloud = ShadowCloud(platform_codec("huawei"), self.published.append, new_id=counter("req-"))
        self.cloud.on_children = lambda gateway, changed: self.children_said.append((gateway, dict(changed)))

    def send(self, topic: str, body: Any) -> list[tuple[str, Any]]:
        start = len(self.published)
        self.cloud.receive(topic, body if isinstance(body, bytes) else json.dumps(body).encode())
        return [(m.topic, json.loads(m.payload)) for m in self.published[start:]]

    def ask(self, event_type: str, paras: dict[str, Any], event_id: str = "e-1") -> dict[str, Any]:
        """A gateway request; the paras of the one answer event it gets."""
        item = {
            "service_id": "$sub_device_manager",
            "event_type": event_type,
            "event_id": event_id,
            "paras": paras,
        }
        [(topic, answer)] = self.send(G + "events/up", {"object_device_id": GATEWAY, "services": [item]})
        assert topic == G + "events/down"
        [event] = answer["services"]
        assert event.get("event_id") in (event_id, None)
        return dict(event["paras"], event_type=event["event_type"])

    def add(self, *children: str) -> dict[str, Any]:
        devices = [{"node_id": f"node-{c}", "product_id": PRODUCT, "device_id": c} for c in children]
        return self.ask("add_sub_device_request", {"devices": devices})


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_children_a_gateway_adds_are_answered_with_their_details_and_kept(rig: Rig) -> None:
    answer = rig.add(CHILD, OTHER)
    assert answer["event_type"] == "add_sub_device_response"
    assert [d["device_id"] for d in answer["successful_devices"]] == [CHILD, OTHER]
    assert answer["successful_devices"][0] == {
        "parent_device_id": GATEWAY,
        "node_id": f"node-{CHILD}",
        "device_id": CHILD,
        "product_id": PRODUCT,
    }
    assert answer["failed_devices"] == []
    assert rig.cloud.gateways.parent_of(CHILD) == GATEWAY
    assert [c.node_id for c in rig.cloud.gateways.children_of(GATEWAY)] == [f"node-{CHILD}", f"node-{OTHER}"]


def test_a_child_of_another_gateway_or_the_gateway_itself_is_answered_as_failed(rig: Rig) -> None:
    rig.add(CHILD)
    item = {"service_id": "$sub_device_manager", "event_type": "add_sub_device_request", "event_id": "e-2"}
    item["paras"] = {"devices": [{"node_id": "n", "product_id": PRODUCT, "device_id": CHILD}]}
    [(_, answer)] = rig.send("$oc/devices/gw-2/sys/events/up", {"services": [item]})
    paras = answer["services"][0]["paras"]
    assert paras["successful_devices"] == []
    [failed] = paras["failed_devices"]
    assert failed["device_id"] == CHILD and GATEWAY in failed["error_msg"]
    assert (failed["node_id"], failed["product_id"], failed["error_code"]) == ("n", PRODUCT, "400")
    assert rig.cloud.gateways.parent_of(CHILD) == GATEWAY


def test_a_status_report_is_answered_and_tells_the_cloud_who_is_online(rig: Rig) -> None:
    rig.add(CHILD)
    statuses = [{"device_id": CHILD, "status": "ONLINE"}, {"device_id": STRANGER, "status": "ONLINE"}]
    answer = rig.ask("sub_device_update_status", {"device_statuses": statuses}, "s-1")
    assert answer["event_type"] == "sub_device_update_status_response"
    assert answer["successful_devices"] == [{"device_id": CHILD, "status": "ONLINE"}]
    assert [f["device_id"] for f in answer["failed_devices"]] == [STRANGER]
    assert rig.children_said == [(GATEWAY, {CHILD: True})]
    assert rig.cloud.gateways.is_online(CHILD) and not rig.cloud.gateways.is_online(STRANGER)


def test_the_cloud_knows_who_is_online_before_the_gateway_hears_its_answer(rig: Rig) -> None:
    rig.add(CHILD)
    published_when_told: list[int] = []
    rig.cloud.on_children = lambda gateway, changed: published_when_told.append(len(rig.published))
    before = len(rig.published)
    rig.ask("sub_device_update_status", {"device_statuses": [{"device_id": CHILD, "status": "ONLINE"}]})
    assert published_when_told == [before]  # presence first, then the answer
    assert len(rig.published) == before + 1


def test_a_batch_report_lands_in_each_child_s_own_shadow_and_nowhere_else(rig: Rig) -> None:
    rig.add(CHILD, OTHER)
    devices = [
        {"device_id": CHILD, "services": [{"service_id": "meter", "properties": {"kwh": 1.5}}]},
        {"device_id": STRANGER, "services": [{"service_id": "meter", "properties": {"kwh": 9}}]},
        {"device_id": OTHER, "services": [{"service_id": "meter", "properties": {"kwh": 2.5}}]},
    ]
    assert rig.send(G + "gateway/sub_devices/properties/report", {"devices": devices}) == []
    assert rig.cloud.shadow(CHILD)["meter"].reported == {"kwh": 1.5}
    assert rig.cloud.shadow(OTHER)["meter"].reported == {"kwh": 2.5}
    assert rig.cloud.shadow(STRANGER) == {} and rig.cloud.shadow(GATEWAY) == {}
    assert [p.reason for p in rig.cloud.book.problems if p.device_id == GATEWAY] == [
        f"devices[1].device_id: device 'stranger' is not a child of gateway {GATEWAY}"
    ]


def test_a_desire_for_a_child_goes_to_its_gateway_and_the_gateway_s_answer_is_the_child_s(rig: Rig) -> None:
    rig.add(CHILD)
    rid = rig.cloud.desire(CHILD, {"meter": {"limit": 5}})
    [out] = rig.published[-1:]
    assert out.topic == f"{G}properties/set/request_id={rid}"
    assert json.loads(out.payload) == {
        "object_device_id": CHILD,
        "services": [{"service_id": "meter", "properties": {"limit": 5}}],
    }
    rig.send(f"{G}properties/set/response/request_id={rid}", {"result_code": 0, "result_desc": "success"})
    assert rig.cloud.result(rid) == ev.DesiredAcked(CHILD, rid)
    assert rig.cloud.shadow(CHILD)["meter"].desired == {"limit": 5}


def test_a_command_to_a_child_is_answered_by_its_gateway_for_it(rig: Rig) -> None:
    rig.add(CHILD)
    rid = rig.cloud.command(CHILD, "meter", "reset", {"hard": True})
    [out] = rig.published[-1:]
    assert out.topic == f"{G}commands/request_id={rid}"
    assert json.loads(out.payload)["object_device_id"] == CHILD
    rig.send(f"{G}commands/response/request_id={rid}", {"result_code": 0, "paras": {"done": 1}})
    assert rig.cloud.result(rid) == ev.CommandAnswered(CHILD, rid, 0, {"done": 1})


def test_a_child_s_shadow_is_answered_on_its_gateway_s_topic(rig: Rig) -> None:
    rig.add(CHILD)
    rig.cloud.desire(CHILD, {"meter": {"limit": 5}})
    [(topic, answer)] = rig.send(f"{G}shadow/get/request_id=sh-1", {"object_device_id": CHILD})
    assert topic == f"{G}shadow/get/response/request_id=sh-1"
    assert answer["object_device_id"] == CHILD
    assert [(s["service_id"], s["desired"]["properties"]) for s in answer["shadow"]] == [
        ("meter", {"limit": 5})
    ]


def test_a_gateway_naming_a_device_that_is_not_its_child_is_refused_and_reaches_nothing(rig: Rig) -> None:
    rig.cloud.desire(STRANGER, {"meter": {"limit": 1}})  # a device of its own, with a shadow
    rig.add(CHILD)
    [(topic, answer)] = rig.send(f"{G}shadow/get/request_id=sh-2", {"object_device_id": STRANGER})
    assert topic == f"{G}shadow/get/response/request_id=sh-2"
    assert answer["result_code"] == ev.CODE_BAD_REQUEST and answer["shadow"] == []
    assert "not a child" in answer["result_desc"]
    event = {"service_id": "meter", "event_type": "alarm", "paras": {}}
    assert rig.send(G + "events/up", {"object_device_id": STRANGER, "services": [event]}) == []
    assert rig.send(G + "messages/up", {"object_device_id": STRANGER, "content": "x"}) == []
    assert rig.cloud.activity(STRANGER).events == () and rig.cloud.activity(STRANGER).messages == ()
    assert rig.cloud.shadow(STRANGER)["meter"].reported == {}


def test_a_child_s_events_and_messages_are_kept_as_its_own(rig: Rig) -> None:
    rig.add(CHILD)
    event = {"service_id": "meter", "event_type": "overload", "paras": {"phase": "A"}}
    rig.send(G + "events/up", {"object_device_id": CHILD, "services": [event]})
    rig.send(G + "messages/up", {"object_device_id": CHILD, "id": "", "name": "", "content": "hello"})
    activity = rig.cloud.activity(CHILD)
    assert [(e.service_id, e.event_type) for e in activity.events] == [("meter", "overload")]
    assert [m.payload for m in activity.messages] == [b"hello"]
    assert rig.cloud.activity(GATEWAY).events == ()


def test_a_sync_is_answered_with_every_child_and_the_list_s_version(rig: Rig) -> None:
    rig.add(CHILD, OTHER)
    version = rig.cloud.gateways.version_of(GATEWAY)
    answer = rig.ask("sub_device_sync_request", {"version": 0}, "sync-1")
    assert answer["event_type"] == "add_sub_device_notify"
    assert answer["version"] == version > 0
    assert [d["device_id"] for d in answer["devices"]] == [CHILD, OTHER]


def test_a_removed_child_is_answered_and_forgotten(rig: Rig) -> None:
    rig.add(CHILD)
    answer = rig.ask("delete_sub_device_request", {"devices": [CHILD, STRANGER]}, "d-1")
    assert answer["event_type"] == "delete_sub_device_response"
    assert answer["successful_devices"] == [CHILD]
    assert [f["device_id"] for f in answer["failed_devices"]] == [STRANGER]
    assert rig.cloud.gateways.parent_of(CHILD) is None


def test_a_removed_child_is_deleted_with_its_shadow_and_the_other_children_keep_theirs(rig: Rig) -> None:
    rig.add(CHILD, OTHER)
    devices = [
        {"device_id": c, "services": [{"service_id": "meter", "properties": {"kwh": 1.5}}]}
        for c in (CHILD, OTHER)
    ]
    rig.send(G + "gateway/sub_devices/properties/report", {"devices": devices})
    assert set(rig.cloud.devices()) >= {CHILD, OTHER}
    rig.ask("delete_sub_device_request", {"devices": [CHILD]}, "d-1")
    assert rig.cloud.shadow(CHILD) == {} and CHILD not in rig.cloud.devices()
    assert rig.cloud.shadow(OTHER)["meter"].reported == {"kwh": 1.5}


def test_with_a_registry_a_child_needs_no_secret_but_a_registered_device_cannot_be_one(rig: Rig) -> None:
    registered = {"direct-1": "its-secret"}
    rig.cloud.child_secret = registered.get
    answer = rig.add(CHILD, "direct-1")
    assert [d["device_id"] for d in answer["successful_devices"]] == [CHILD]
    [failed] = answer["failed_devices"]
    assert failed["device_id"] == "direct-1" and "registered to connect by itself" in failed["error_msg"]
    assert "its-secret" not in json.dumps(answer)


def test_a_book_kept_in_a_file_is_what_a_new_book_on_that_file_starts_with(tmp_path: Path) -> None:
    book = GatewayBook()
    book.keep_in(tmp_path / "cloud.db")
    for child in (CHILD, OTHER, "meter-3"):
        book.add(GATEWAY, ChildInfo(child, product_id=PRODUCT, node_id=f"node-{child}"))
    book.remove(GATEWAY, OTHER)
    book.close()
    again = GatewayBook()
    again.keep_in(tmp_path / "cloud.db")
    assert again.children_of(GATEWAY) == book.children_of(GATEWAY)
    assert [c.device_id for c in again.children_of(GATEWAY)] == [CHILD, "meter-3"]
    assert again.version_of(GATEWAY) == book.version_of(GATEWAY) == 4
    assert again.parent_of(CHILD) == GATEWAY and again.parent_of(OTHER) is None


def test_a_change_the_file_cannot_keep_is_refused_and_the_book_stays_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = GatewayBook()
    book.keep_in(tmp_path / "cloud.db")
    book.add(GATEWAY, ChildInfo(CHILD))

    def full(*args: object) -> None:
        raise OSError("database or disk is full")

    monkeypatch.setattr(BookFile, "save", full)
    monkeypatch.setattr(BookFile, "delete", full)
    with pytest.raises(InvalidValue, match="cannot keep the change: database or disk is full"):
        book.add(GATEWAY, ChildInfo(OTHER))
    with pytest.raises(InvalidValue, match="cannot keep"):
        book.remove(GATEWAY, CHILD)
    assert [c.device_id for c in book.children_of(GATEWAY)] == [CHILD] and book.version_of(GATEWAY) == 1


# -- the live local cloud, with thingmodel's Gateway ------------------------------------------------
@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port()) as local:
        yield local


def online(cloud: LocalCloud, device_id: str) -> bool | None:
    """Whether the cloud shows the device online (None: it does not know it yet)."""
    try:
        return cloud.summary(device_id).online
    except UnknownDevice:
        return None


def reported(cloud: LocalCloud, device_id: str) -> dict[str, Any]:
    return dict(cloud.get_shadow(device_id).get("smokeDetector", {}).get("reported", {}))


@pytest.mark.broker
def test_a_gateway_s_children_are_devices_of_the_cloud_online_while_it_is(cloud: LocalCloud) -> None:
    kitchen, hall = Detector(), Detector()
    kitchen.temperature, hall.temperature = 21.5, 19.0
    gateway = Gateway([Detector()], device_id=GATEWAY, broker=cloud.url, backoff=fast_backoff())
    gateway.add_child("kitchen", [kitchen], product_id=PRODUCT)
    gateway.add_child("hall", [hall], product_id=PRODUCT)
    with gateway:
        eventually(lambda: {"kitchen", "hall"} <= set(cloud.devices()), what="the children listed")
        eventually(lambda: online(cloud, "kitchen") is True, what="the kitchen online")
        assert cloud.gateways.parent_of("hall") == GATEWAY
        kitchen.report()
        hall.report()
        eventually(lambda: reported(cloud, "kitchen").get("temperature") == 21.5, what="the kitchen's report")
        eventually(lambda: reported(cloud, "hall").get("temperature") == 19.0, what="the hall's report")
        assert "temperature" not in reported(cloud, GATEWAY)
    eventually(lambda: online(cloud, "kitchen") is False, what="the kitchen offline with its gateway")
    with pytest.raises(DeviceOffline):
        cloud.send_command("kitchen", "smokeDetector", "ringAlarm", {"duration": 1}, timeout=1)


@pytest.mark.broker
def test_what_the_application_does_to_a_child_reaches_only_that_child(cloud: LocalCloud) -> None:
    own, porch = Detector(), Detector()
    gateway = Gateway([own], device_id=GATEWAY, broker=cloud.url, backoff=fast_backoff())
    gateway.add_child("porch", [porch], product_id=PRODUCT)
    with gateway:
        eventually(lambda: online(cloud, "porch") is True, what="the porch online")
        outcome = cloud.set_desired("porch", "smokeDetector", {"alarm": 1})
        assert outcome.ok, outcome
        assert porch.set_calls == [1] and own.set_calls == []
        command = cloud.send_command("porch", "smokeDetector", "ringAlarm", {"duration": 3})
        assert command.ok and dict(command.params) == {"rang": 3}
        assert porch.commands == [3] and own.commands == []
        assert cloud.read_properties("porch", "smokeDetector")["smokeDetector"]["alarm"] == 1
        eventually(lambda: reported(cloud, "porch").get("alarm") == 1, what="the porch's new value")


@pytest.mark.broker
def test_a_restarted_cloud_with_a_store_still_knows_each_gateway_s_children(tmp_path: Path) -> None:
    store, port = str(tmp_path / "cloud.db"), free_port()
    porch = Detector()
    with LocalCloud(vendor="huawei", port=port, store=store) as first:
        gateway = Gateway([Detector()], device_id=GATEWAY, broker=first.url, backoff=fast_backoff())
        gateway.add_child("porch", [porch], product_id=PRODUCT)
        with gateway:
            eventually(lambda: online(first, "porch") is True, what="the porch online")
    with LocalCloud(vendor="huawei", port=port, store=store) as second:
        assert second.gateways.parent_of("porch") == GATEWAY and "porch" in second.devices()
        gateway = Gateway([Detector()], device_id=GATEWAY, broker=second.url, backoff=fast_backoff())
        gateway.add_child("porch", [porch], product_id=PRODUCT)
        with gateway:
            eventually(lambda: online(second, "porch") is True, what="the porch online again")
            outcome = second.set_desired("porch", "smokeDetector", {"alarm": 1})
            assert outcome.ok, outcome
            assert porch.set_calls == [1]


@pytest.mark.broker
def test_a_registry_cloud_lets_a_gateway_add_children_that_have_no_secret(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "registry.json", "huawei")
    registry.add(GATEWAY, "secret-of-the-gateway")
    registry.add("direct-1", "secret-of-direct-1")
    registry.save()
    with LocalCloud(vendor="huawei", port=free_port(), registry=registry) as local:
        porch = Detector()
        gateway = huawei.device(
            Gateway,
            device_id=GATEWAY,
            secret="secret-of-the-gateway",
            host=local.host,
            port=local.port,
            tls=False,
            services=[Detector()],
            backoff=fast_backoff(),
        )
        assert isinstance(gateway, Gateway)
        gateway.add_child("porch", [porch], product_id=PRODUCT)
        gateway.add_child("direct-1", [Detector()], product_id=PRODUCT)
        with gateway:
            eventually(lambda: online(local, "porch") is True, what="the porch online")
            assert local.set_desired("porch", "smokeDetector", {"alarm": 1}).ok
            assert porch.set_calls == [1]
            eventually(
                lambda: any("registered to connect by itself" in e.reason for e in gateway.errors),
                what="the refusal of a registered device as a child",
            )
            assert local.gateways.parent_of("direct-1") is None
            assert "porch" not in registry
