"""The local cloud as Tencent's gateway side, hub and Explorer: bind/unbind (the signature checked
against a registered child's secret), online/offline as the children's presence, describe, the
children as devices with their own shadows, and the broker letting a gateway use a child's own
topics only while the child is bound to it and online.

The gateway is played by hand: a bare paho client on the cloud's embedded broker, speaking
tencent-more.md 2's payloads, built here from the document (not by our codec)."""

from __future__ import annotations

import concurrent.futures
import json
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.brokers import free_port
from thingmodel.brokers.policy import ClientInfo as BrokerClient
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.access import CloudPolicy
from thingmodel.cloud.gateways import GatewayBook
from thingmodel.cloud.registry import Registry
from thingmodel.cloud.shadows import ShadowCloud
from thingmodel.protocol import messages as ev
from thingmodel.protocol.gateway import ChildInfo
from thingmodel.vendors import platform_codec, tencent

from ..integration.helpers import eventually

GW_PID, GW_DN = "ABCDEFGHIJ", "gateway1"
GATEWAY = f"{GW_PID}.{GW_DN}"
PID, DN = "CFCSQ5EAG7", "child1"
CHILD = f"{PID}.{DN}"
OTHER = f"{PID}.other"
UP, DOWN = f"$gateway/operation/{GW_PID}/{GW_DN}", f"$gateway/operation/result/{GW_PID}/{GW_DN}"
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0"
WAIT = 5.0
MODES = ["hub", "explorer"]


def named(device_id: str, **more: Any) -> dict[str, Any]:
    pid, dn = device_id.split(".", 1)
    return {"product_id": pid, "device_name": dn, **more}


def request(kind: str, *device_ids: str) -> dict[str, Any]:
    return {"type": kind, "payload": {"devices": [named(d) for d in device_ids]}}


def bind(device_id: str, secret: str, *, timestamp: int | None = None, nonce: int = 4242) -> dict[str, Any]:
    """A bind as the reference note gives it (tencent-more.md 2: base64 HMAC-SHA1 of
    ``{pid}{dn};{random};{timestamp}`` keyed by the secret's text)."""
    pid, dn = device_id.split(".", 1)
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = tencent.bind_signature(pid, dn, secret, nonce, stamp)
    entry = named(
        device_id, signature=signature, random=nonce, timestamp=stamp, signmethod="hmacsha1", authtype="psk"
    )
    return {"type": "bind", "payload": {"devices": [entry]}}


def results(body: dict[str, Any]) -> dict[str, int]:
    return {f"{d['product_id']}.{d['device_name']}": d["result"] for d in body["payload"]["devices"]}


# -- the vendor cloud alone (no broker) ---------------------------------------------------------
class Recorder:
    def __init__(self, mode: str, secrets: dict[str, str] | None = None) -> None:
        self.sent: list[ev.Outgoing] = []
        self.cloud = ShadowCloud(platform_codec(f"tencent-{mode}"), self.sent.append)
        self.status: list[tuple[str, dict[str, bool]]] = []
        self.cloud.on_children = lambda g, changed: self.status.append((g, dict(changed)))
        if secrets is not None:
            self.cloud.child_secret = secrets.get

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send the gateway's request; the one reply it gets."""
        del self.sent[:]
        self.cloud.receive(UP, json.dumps(body).encode())
        [reply] = self.sent
        assert reply.topic == DOWN
        answer: dict[str, Any] = json.loads(reply.payload)
        return answer


@pytest.mark.parametrize("mode", MODES)
def test_bind_online_describe_offline_unbind_each_get_their_reply(mode: str) -> None:
    gateway = Recorder(mode)
    assert results(gateway.ask(bind(CHILD, SECRET))) == {CHILD: 0}
    assert gateway.cloud.gateways.parent_of(CHILD) == GATEWAY
    assert gateway.ask(request("online", CHILD)) == {
        "type": "online",
        "payload": {"devices": [named(CHILD, result=0)]},
    }
    assert gateway.status == [(GATEWAY, {CHILD: True})]
    assert gateway.ask({"type": "describe_sub_devices"}) == {
        "type": "describe_sub_devices",
        "payload": {"devices": [named(CHILD)]},
    }
    assert results(gateway.ask(request("offline", CHILD))) == {CHILD: 0}
    assert results(gateway.ask(request("unbind", CHILD))) == {CHILD: 0}
    assert gateway.status == [(GATEWAY, {CHILD: True}), (GATEWAY, {CHILD: False})]
    assert gateway.ask({"type": "describe_sub_devices"})["payload"]["devices"] == []
    assert gateway.cloud.gateways.parent_of(CHILD) is None


@pytest.mark.parametrize("mode", MODES)
def test_an_unbound_child_keeps_its_shadow_for_it_is_a_device_of_its_own(mode: str) -> None:
    gateway = Recorder(mode)
    gateway.ask(bind(CHILD, SECRET))
    gateway.cloud.desire(CHILD, {"light": {"power": 1}})
    before = gateway.cloud.shadow(CHILD)
    assert before
    gateway.ask(request("unbind", CHILD))
    assert gateway.cloud.gateways.parent_of(CHILD) is None
    assert gateway.cloud.shadow(CHILD) == before


@pytest.mark.parametrize("mode", MODES)
def test_a_child_that_is_not_bound_cannot_go_online_nor_be_unbound(mode: str) -> None:
    gateway = Recorder(mode)
    assert results(gateway.ask(request("online", CHILD))) == {CHILD: -1}
    assert results(gateway.ask(request("unbind", CHILD))) == {CHILD: -1}
    assert gateway.status == [] and gateway.cloud.gateways.children_of(GATEWAY) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_child_bound_to_another_gateway_or_a_gateway_itself_is_refused_with_its_code(mode: str) -> None:
    gateway = Recorder(mode)
    gateway.cloud.gateways.add("ZZZZZZZZZZ.other", tencent_child(CHILD))
    gateway.cloud.gateways.add(OTHER, tencent_child(f"{PID}.grandchild"))
    reply = gateway.ask(
        {
            "type": "bind",
            "payload": {
                "devices": [
                    *bind(CHILD, SECRET)["payload"]["devices"],
                    *bind(OTHER, SECRET)["payload"]["devices"],
                ]
            },
        }
    )
    assert results(reply) == {CHILD: 806, OTHER: 807}


def tencent_child(device_id: str) -> ChildInfo:
    return ChildInfo(device_id)


@pytest.mark.parametrize("mode", MODES)
def test_with_a_registry_the_bind_is_checked_against_the_childs_registered_secret(mode: str) -> None:
    gateway = Recorder(mode, secrets={CHILD: SECRET, OTHER: SECRET})
    assert results(gateway.ask(bind(CHILD, "b3RoZXIgc2VjcmV0"))) == {CHILD: 803}
    assert results(
        gateway.ask(bind(OTHER, SECRET, timestamp=int(time.time()) - 2 * tencent.BIND_SIGNATURE_TTL))
    ) == {OTHER: 805}
    assert results(gateway.ask(bind(f"{PID}.unregistered", SECRET))) == {f"{PID}.unregistered": 802}
    assert gateway.cloud.gateways.children_of(GATEWAY) == []
    assert results(gateway.ask(bind(CHILD, SECRET))) == {CHILD: 0}
    [kept] = gateway.cloud.gateways.children_of(GATEWAY)
    assert kept.device_id == CHILD and kept.proof is None and kept.secret is None


@pytest.mark.parametrize("mode", MODES)
def test_a_malformed_gateway_request_changes_nothing_and_is_not_answered(mode: str) -> None:
    gateway = Recorder(mode)
    gateway.cloud.receive(UP, b'{"type": "bind", "payload": {"devices": [{"product_id": "X"}]}}')
    assert gateway.sent == [] and gateway.cloud.gateways.gateways() == []


# -- the local cloud on its embedded broker -----------------------------------------------------
class TencentGateway:
    """A paho client on the cloud's broker as the Tencent gateway (signed when ``secret``)."""

    def __init__(self, cloud: LocalCloud, secret: str | None = None) -> None:
        client_id = tencent.client_id(GW_PID, GW_DN) if secret else GATEWAY
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False
        )
        if secret:
            user = tencent.username(GW_PID, GW_DN)
            self.client.username_pw_set(user, tencent.password(secret, user))
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.granted: queue.Queue[bool] = queue.Queue()
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: self.granted.put(
            all(not c.is_failure for c in codes)
        )
        self.client.connect("127.0.0.1", cloud.port, keepalive=30)
        self.client.loop_start()
        eventually(lambda: cloud.presence.is_online(GATEWAY) is True, what="the gateway online")
        assert self.subscribe(DOWN)

    def subscribe(self, topic_filter: str) -> bool:
        """Whether the broker granted the subscription."""
        self.client.subscribe(topic_filter, 1)
        return self.granted.get(timeout=WAIT)

    def publish(self, topic: str, body: Any) -> None:
        self.client.publish(topic, json.dumps(body).encode(), qos=1).wait_for_publish(WAIT)

    def take(self, matches: Callable[[str, Any], bool]) -> tuple[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            topic, body = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            if matches(topic, body):
                return topic, body

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        self.publish(UP, body)
        _, reply = self.take(lambda t, b: t == DOWN and b.get("type") == body["type"])
        answer: dict[str, Any] = reply
        return answer

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def child_topics(mode: str) -> tuple[str, str]:
    """``(where the child reports, where its desired values come)``."""
    if mode == "explorer":
        return f"$thing/up/property/{PID}/{DN}", f"$thing/down/property/{PID}/{DN}"
    return f"$shadow/operation/{PID}/{DN}", f"$shadow/operation/result/{PID}/{DN}"


def report(mode: str, token: str, values: dict[str, Any]) -> dict[str, Any]:
    if mode == "explorer":
        return {"method": "report", "clientToken": token, "params": values}
    return {"type": "update", "clientToken": token, "state": {"reported": values}}


@pytest.fixture
def dev_cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    with LocalCloud(vendor=f"tencent-{request.param}", port=free_port()) as cloud:
        yield cloud


@pytest.mark.parametrize("dev_cloud", MODES, indirect=True)
def test_a_bound_online_child_is_a_device_with_its_own_shadow_reached_through_its_gateway(
    dev_cloud: LocalCloud,
) -> None:
    mode = dev_cloud.vendor.removeprefix("tencent-")
    up, down = child_topics(mode)
    gateway = TencentGateway(dev_cloud)
    try:
        assert results(gateway.ask(bind(CHILD, SECRET))) == {CHILD: 0}  # no registry: accepted
        assert CHILD in dev_cloud.devices() and dev_cloud.is_known(CHILD)
        assert dev_cloud.summary(CHILD).online is False
        assert results(gateway.ask(request("online", CHILD))) == {CHILD: 0}
        assert dev_cloud.summary(CHILD).online is True
        assert gateway.subscribe(down)
        gateway.publish(up, report(mode, "t-1", {"alarm": 0}))
        eventually(
            lambda: dev_cloud.get_shadow(CHILD).get(PID, {}).get("reported") == {"alarm": 0},
            what="the report",
        )
        assert dev_cloud.get_shadow(GATEWAY) == {}
        # a desired value for the child goes out on its own topic, which its gateway subscribed
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            outcome = pool.submit(dev_cloud.set_desired, CHILD, PID, {"alarm": 1}, 10.0)
            if mode == "explorer":
                _, control = gateway.take(lambda t, b: t == down and b.get("method") == "control")
                assert control["params"] == {"alarm": 1}
                gateway.publish(
                    up, {"method": "control_reply", "clientToken": control["clientToken"], "code": 0}
                )
            else:
                _, delta = gateway.take(lambda t, b: t == down and b.get("type") == "delta")
                assert delta["payload"]["state"] == {"alarm": 1}
                gateway.publish(
                    up,
                    {
                        "type": "update",
                        "clientToken": "t-2",
                        "state": {"reported": {"alarm": 1}, "desired": None},
                    },
                )
            assert outcome.result(timeout=WAIT).ok
        # the gateway going away takes its children offline
        gateway.close()
        eventually(
            lambda: dev_cloud.summary(CHILD).online is False, what="the child offline with its gateway"
        )
        assert not dev_cloud.gateways.is_online(CHILD) and dev_cloud.gateways.parent_of(CHILD) == GATEWAY
    finally:
        gateway.close()


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[LocalCloud]:
    registry = Registry.new(tmp_path / "registry.json", "tencent-explorer")
    registry.add(GATEWAY, SECRET)
    registry.add(CHILD, "Y2hpbGRzZWNyZXQ=")
    registry.add(OTHER, "b3RoZXJzZWNyZXQ=")
    with LocalCloud(vendor="tencent-explorer", port=free_port(), registry=registry) as cloud:
        yield cloud


def test_with_a_registry_a_gateway_uses_a_childs_topics_only_while_it_is_bound_and_online(
    registered: LocalCloud,
) -> None:
    cloud = registered
    up, down = child_topics("explorer")
    child_secret = "Y2hpbGRzZWNyZXQ="
    gateway = TencentGateway(cloud, SECRET)
    try:
        assert not gateway.subscribe(down)  # not bound yet
        assert results(gateway.ask(bind(CHILD, "d3Jvbmc="))) == {CHILD: 803}
        assert results(gateway.ask(bind(CHILD, child_secret))) == {CHILD: 0}
        assert not gateway.subscribe(down)  # bound, not online
        assert results(gateway.ask(request("online", CHILD))) == {CHILD: 0}
        assert gateway.subscribe(down)
        assert not gateway.subscribe(f"$thing/down/property/{PID}/other")  # bound to none
        gateway.publish(up, report("explorer", "t-1", {"alarm": 0}))
        _, reply = gateway.take(lambda t, b: t == down and b.get("method") == "report_reply")
        assert reply["code"] == 0
        assert cloud.get_shadow(CHILD)[PID]["reported"] == {"alarm": 0}
        # offline: what the gateway publishes for the child is dropped, and its own still arrives
        assert results(gateway.ask(request("offline", CHILD))) == {CHILD: 0}
        gateway.publish(up, report("explorer", "t-2", {"alarm": 1}))
        own = f"$thing/up/property/{GW_PID}/{GW_DN}"
        gateway.publish(own, report("explorer", "t-3", {"alarm": 7}))
        eventually(lambda: cloud.get_shadow(GATEWAY).get(GW_PID, {}).get("reported") == {"alarm": 7})
        assert cloud.get_shadow(CHILD)[PID]["reported"] == {"alarm": 0}
        assert cloud.summary(CHILD).online is False
    finally:
        gateway.close()


def test_the_broker_policy_serves_a_childs_topics_to_its_own_gateway_only(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "registry.json", "tencent-hub")
    secrets = {device_id: registry.add(device_id) for device_id in (GATEWAY, "ZZZZZZZZZZ.gw2", CHILD)}
    book = GatewayBook()
    policy = CloudPolicy("tencent-hub", registry, "cloud-password")
    policy.gateways = book
    gateway, stranger = (
        _client(GATEWAY, secrets[GATEWAY]),
        _client("ZZZZZZZZZZ.gw2", secrets["ZZZZZZZZZZ.gw2"]),
    )
    assert policy.authenticate(gateway) is None and policy.authenticate(stranger) is None
    up, down = child_topics("hub")

    def allowed(who: Any) -> tuple[bool, bool]:
        return policy.may_publish(who, up), policy.may_subscribe(who, down)

    assert allowed(gateway) == (False, False)
    book.add(GATEWAY, ChildInfo(CHILD))
    assert allowed(gateway) == (False, False)  # bound, not online
    book.set_online(CHILD, True)
    assert allowed(gateway) == (True, True) and allowed(stranger) == (False, False)
    assert not policy.may_subscribe(gateway, f"$shadow/operation/result/{PID}/+")  # only the child's own
    book.set_online(CHILD, False)
    assert allowed(gateway) == (False, False)
    # without a registry (development mode) every client may use every topic, bound or not
    open_policy = CloudPolicy("tencent-hub", None, "cloud-password")
    open_policy.gateways = GatewayBook()
    assert policy.may_publish(gateway, UP) and open_policy.may_publish(stranger, up)


def _client(device_id: str, secret: str) -> BrokerClient:
    pid, dn = device_id.split(".", 1)
    user = tencent.username(pid, dn)
    return BrokerClient(tencent.client_id(pid, dn), user, tencent.password(secret, user), "127.0.0.1:1", 4)
