"""The connect -> shadow sync -> open-the-gate sequence, pure and under a fake clock."""

from __future__ import annotations

import datetime as dt
import json

from thingmodel import Property, Service
from thingmodel.engine.scheduling import FakeClock
from thingmodel.engine.session import DeviceSession
from thingmodel.engine.sync import NOTHING, ShadowSync, SyncStep
from thingmodel.protocol import messages as ev
from thingmodel.testing import FakeCloud
from thingmodel.vendors.huawei import HuaweiDevice

T0 = dt.datetime(2026, 1, 1)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def counter() -> ShadowSync:
    ids = iter(f"get-{n}" for n in range(1, 100))
    return ShadowSync(retry_interval=1.0, max_requests=3, new_id=lambda: next(ids))


SNAPSHOT = ev.ShadowSnapshot("get-1", {})


def test_a_connection_holds_the_gate_and_asks_for_the_shadow() -> None:
    sync = counter()
    assert sync.connected(at(0)) == SyncStep(request=ev.RequestShadow("get-1"))
    assert (sync.connection, sync.phase, sync.requests, sync.gate_open) == (1, "syncing", 1, False)


def test_the_shadow_answer_opens_the_gate_once() -> None:
    sync = counter()
    sync.connected(at(0))
    assert sync.received([SNAPSHOT]) == SyncStep(open_gate=True)
    assert sync.gate_open and sync.idle_seconds(at(5)) is None
    assert sync.received([SNAPSHOT]) == NOTHING  # a later snapshot is just applied
    assert sync.tick(at(10)) == NOTHING


def test_other_messages_leave_the_gate_closed() -> None:
    sync = counter()
    sync.connected(at(0))
    assert sync.received([ev.DesiredChange("r1", {"s": {"a": 1}}), ev.Rejected(None, 500, "x")]) == NOTHING
    assert not sync.gate_open


def test_an_unanswered_request_is_repeated_every_interval_then_the_gate_opens_anyway() -> None:
    sync = counter()
    sync.connected(at(0))
    assert sync.idle_seconds(at(0.25)) == 0.75
    assert sync.tick(at(0.9)) == NOTHING  # not due yet
    assert sync.tick(at(1.0)) == SyncStep(request=ev.RequestShadow("get-2"))
    assert sync.tick(at(2.0)) == SyncStep(request=ev.RequestShadow("get-3"))
    assert sync.tick(at(3.0)) == SyncStep(open_gate=True, gave_up=True)  # 3 requests, no answer
    assert sync.gate_open and sync.requests == 3


def test_a_reconnect_starts_over_and_a_disconnect_stops_the_retries() -> None:
    sync = counter()
    sync.connected(at(0))
    sync.tick(at(1))
    sync.disconnected()
    assert sync.tick(at(5)) == NOTHING and sync.idle_seconds(at(5)) is None
    assert sync.connected(at(6)) == SyncStep(request=ev.RequestShadow("get-3"))
    assert (sync.connection, sync.requests) == (2, 1)
    assert sync.received([SNAPSHOT]) == SyncStep(open_gate=True)


def test_an_answer_after_a_disconnect_does_not_open_the_gate() -> None:
    sync = counter()
    sync.connected(at(0))
    sync.disconnected()
    assert sync.received([SNAPSHOT]) == NOTHING and not sync.gate_open


class Lamp(Service):
    service_id = "lamp"
    on = Property(int, writeable=True, default=0)


class Rig:
    """A session whose cloud never answers until told to: what it published, when."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.queued: list[ev.Outgoing] = []
        self.sent_now: list[ev.Outgoing] = []
        self.gate: list[bool] = []
        self.session = DeviceSession(
            [Lamp()],
            HuaweiDevice("lamp-1"),
            publish=self.queued.append,
            publish_now=self.sent_now.append,
            on_gate_open=self.gate.append,
            sync=ShadowSync(retry_interval=1.0, max_requests=3),
            clock=self.clock,
        )

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.session.tick(self.clock())


def test_the_session_sends_shadow_requests_past_the_gate_and_repeats_them_on_its_clock() -> None:
    rig = Rig()
    rig.session.connected(rig.clock())
    rig.advance(0.5)
    rig.advance(0.5)
    rig.advance(1.0)
    topics = [m.topic.rsplit("/", 1)[0] for m in rig.sent_now]
    assert topics == ["$oc/devices/lamp-1/sys/shadow/get"] * 3
    assert len({m.topic for m in rig.sent_now}) == 3  # a fresh request id each time
    assert rig.queued == [] and rig.gate == []
    rig.advance(1.0)
    assert rig.gate == [True]  # gave up after 3 requests


def test_the_cloud_s_answer_is_applied_then_the_gate_opens() -> None:
    rig = Rig()
    rig.session.connected(rig.clock())
    rid = rig.sent_now[0].topic.rsplit("=", 1)[1]
    answer = {"shadow": [{"service_id": "lamp", "desired": {"properties": {"on": 1}}, "version": 2}]}
    rig.session.receive(
        f"$oc/devices/lamp-1/sys/shadow/get/response/request_id={rid}", json.dumps(answer).encode()
    )
    assert rig.session.core.services["lamp"].on == 1  # type: ignore[attr-defined]
    assert rig.gate == [False]
    # the report of the applied value went through the gate (the driver holds it until now)
    assert [json.loads(m.payload)["services"][0]["properties"] for m in rig.queued] == [{"on": 1}]


def test_fake_cloud_holds_offline_reports_until_the_shadow_is_answered() -> None:
    lamp = Lamp()
    cloud = FakeCloud(lamp, device_id="lamp-1")
    cloud.disconnect()
    lamp.update(on=1)
    lamp.report()
    cloud.desire({"on": 0})  # pending while offline
    before = len(cloud.messages)
    cloud.connect()
    crossed = [
        (topic.split("/sys/")[1].split("/request_id=")[0], payload)
        for topic, payload in cloud.messages[before:]
    ]
    assert [kind for kind, _ in crossed] == [
        "shadow/get",  # first the request, past the gate
        "shadow/get/response",
        "properties/report",  # then the report queued while offline ...
        "properties/report",  # ... and the report of the value the shadow desired
    ]
    assert [payload["services"][0]["properties"] for _, payload in crossed[2:]] == [{"on": 1}, {"on": 0}]
    assert lamp.on == 0 and cloud.reported["lamp"]["on"] == 0
