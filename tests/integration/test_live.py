"""A device and the local cloud over a real broker (mosquitto and the embedded one)."""

from __future__ import annotations

import threading
import time

import pytest

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.protocol import messages as ev
from thingmodel.transport import AuthenticationError, ConnectError

from .helpers import Detector, WireTap, eventually, fast_backoff


def test_report_reaches_the_shadows_reported_state(cloud: LocalCloud) -> None:
    detector = Detector()
    detector.temperature = 23.5
    with Device([detector], device_id="dev-report", broker=cloud.url) as device:
        device.report()
        eventually(
            lambda: (
                cloud.get_shadow("dev-report").get("smokeDetector", {}).get("reported", {}).get("temperature")
                == 23.5
            ),
            what="the report in the shadow",
        )
    assert cloud.get_shadow("dev-report")["smokeDetector"]["reported"] == {
        "alarm": 0,
        "temperature": 23.5,
        "counter": 0,
    }


def test_desire_runs_the_setter_and_updates_reported(cloud: LocalCloud) -> None:
    detector = Detector()
    with Device([detector], device_id="dev-desire", broker=cloud.url):
        outcome = cloud.set_desired("dev-desire", "smokeDetector", {"alarm": 1})
        assert outcome.ok, outcome
        assert detector.set_calls == [1]
        eventually(
            lambda: cloud.get_shadow("dev-desire")["smokeDetector"]["reported"].get("alarm") == 1,
            what="alarm=1 reported",
        )


def test_invalid_desire_is_refused_with_reasons_and_not_applied(cloud: LocalCloud) -> None:
    detector = Detector()
    with Device([detector], device_id="dev-refuse", broker=cloud.url):
        outcome = cloud.set_desired("dev-refuse", "smokeDetector", {"alarm": 7, "temperature": 3.0})
    assert not outcome.ok
    assert "above the maximum 1" in outcome.errors["alarm"]
    assert outcome.errors["temperature"] == "read-only property"
    assert detector.set_calls == [] and detector.alarm == 0
    assert "smokeDetector" not in cloud.get_shadow("dev-refuse")  # the refused desire left nothing


def test_command_runs_the_method_and_returns_its_response(cloud: LocalCloud) -> None:
    detector = Detector()
    with Device([detector], device_id="dev-cmd", broker=cloud.url):
        answer = cloud.send_command("dev-cmd", "smokeDetector", "ringAlarm", {"duration": 3})
        unknown = cloud.send_command("dev-cmd", "smokeDetector", "selfDestruct")
    assert answer.ok and answer.params == {"rang": 3}
    assert detector.commands == [3]
    assert unknown.code != 0 and "unknown command" in unknown.params["error"]


def test_user_code_runs_on_the_device_worker_off_the_network_thread(cloud: LocalCloud) -> None:
    seen: list[tuple[bool, bool]] = []
    devices: list[Device] = []

    class Probe(Detector):
        def set_alarm(self, value: int) -> None:
            device = devices[0]
            seen.append((device.worker.is_current(), device.transport.loop.in_loop()))

    with Device([Probe()], device_id="dev-thread", broker=cloud.url) as device:
        devices.append(device)
        for value in (1, 0, 1):
            assert cloud.set_desired("dev-thread", "smokeDetector", {"alarm": value}).ok
    assert seen == [(True, False)] * 3  # on its worker, and never the thread running the I/O loop


def test_desire_made_while_the_device_is_offline_is_applied_when_it_reconnects(cloud: LocalCloud) -> None:
    detector = Detector()
    with Device([detector], device_id="dev-offline", broker=cloud.url):
        pass
    outcome = cloud.set_desired("dev-offline", "smokeDetector", {"alarm": 1}, timeout=0.3)
    assert outcome.pending and detector.set_calls == []
    with Device([detector], device_id="dev-offline", broker=cloud.url):
        assert detector.set_calls == [1]  # connect() returns once the shadow is applied
        eventually(
            lambda: cloud.get_shadow("dev-offline")["smokeDetector"]["reported"].get("alarm") == 1,
            what="alarm=1 reported after reconnect",
        )


def test_reports_made_while_the_broker_is_down_arrive_after_it_returns_in_order(mosquitto: Mosquitto) -> None:
    received: list[int] = []

    def record(event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and event.device_id == "dev-restart":
            received.append(event.services["smokeDetector"]["counter"])

    detector = Detector()
    cloud = LocalCloud(broker=mosquitto.url, on_uplink=record).start()
    cloud.transport.backoff = fast_backoff()  # type: ignore[union-attr]
    device = Device([detector], device_id="dev-restart", broker=mosquitto.url, backoff=fast_backoff())
    try:
        device.connect()
        for n in range(1, 11):
            detector.counter = n
            detector.report("counter")
        eventually(lambda: received[-1:] == [10], what="reports before the outage")
        mosquitto.kill()
        eventually(lambda: not device.connected, what="the device noticing the outage")
        for n in range(11, 31):  # made while the broker is down
            detector.counter = n
            detector.report("counter")
        assert device.transport.unacknowledged >= 20  # each waits in the queue
        mosquitto.start()
        eventually(lambda: received[-1:] == [30], timeout=20, what="reports made during the outage")
        eventually(lambda: device.transport.unacknowledged == 0, what="every report acknowledged")
    finally:
        device.disconnect()
        cloud.stop()
    assert [n for n in received if n > 10] == list(range(11, 31))
    assert cloud.get_shadow("dev-restart")["smokeDetector"]["reported"]["counter"] == 30
    assert device.dropped == 0


def test_bad_credentials_fail_fast_without_retrying() -> None:
    import shutil

    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    attempts: list[int] = []

    def credentials() -> tuple[str, str | None, str | None]:
        attempts.append(1)
        return "dev-auth", "dev-auth", "wrong"

    with Mosquitto(users={"dev-auth": "right"}) as broker:
        device = Device([Detector()], device_id="dev-auth", broker=broker.url, credentials=credentials)
        with pytest.raises(AuthenticationError, match="refused the credentials"):
            device.connect(timeout=10)
    assert len(attempts) == 1


def test_connecting_to_a_closed_port_fails_with_a_clear_error() -> None:
    from thingmodel.brokers import free_port

    device = Device([Detector()], device_id="dev-closed", broker=f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectError, match=r"could not connect to 127\.0\.0\.1:\d+ within 1 s: .*refused"):
        device.connect(timeout=1)


def test_shadows_survive_a_restart_of_the_local_cloud(broker: object, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "shadows.sqlite3")
    url = broker.url  # type: ignore[attr-defined]
    with LocalCloud(broker=url, store=store) as cloud:
        cloud.set_desired("dev-durable", "smokeDetector", {"alarm": 1}, timeout=0.2)
        before = cloud.get_shadow("dev-durable")
    with LocalCloud(broker=url, store=store) as cloud:
        assert cloud.get_shadow("dev-durable") == before
        detector = Detector()
        with Device([detector], device_id="dev-durable", broker=url):
            assert detector.set_calls == [1]


def test_a_full_offline_queue_drops_the_oldest_visibly_and_the_shadow_still_converges(
    mosquitto: Mosquitto,
) -> None:
    from thingmodel.engine.core import DeviceError

    received: list[int] = []
    errors: list[DeviceError] = []

    def record(event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and event.device_id == "dev-full":
            received.append(event.services["smokeDetector"]["counter"])

    detector = Detector()
    cloud = LocalCloud(broker=mosquitto.url, on_uplink=record).start()
    cloud.transport.backoff = fast_backoff()  # type: ignore[union-attr]
    device = Device(
        [detector],
        device_id="dev-full",
        broker=mosquitto.url,
        backoff=fast_backoff(),
        offline_limit=5,
        on_error=errors.append,
    )
    try:
        device.connect()
        mosquitto.kill()
        eventually(lambda: not device.connected, what="the device noticing the outage")
        for n in range(1, 11):
            detector.counter = n
            detector.report("counter")
        assert device.dropped == 5
        assert [e.kind for e in errors] == ["offline-queue"] * 5
        mosquitto.start()
        eventually(
            lambda: (
                cloud.get_shadow("dev-full").get("smokeDetector", {}).get("reported", {}).get("counter") == 10
            ),
            timeout=20,
            what="the shadow converging on counter=10",
        )
    finally:
        device.disconnect()
        cloud.stop()
    assert received[:5] == [6, 7, 8, 9, 10]  # the five newest, in order; then the full state


def test_the_device_acknowledges_a_downlink_only_once_it_has_handled_it(cloud: LocalCloud) -> None:
    release = threading.Event()
    entered = threading.Event()

    class Slow(Detector):
        def set_alarm(self, value: int) -> None:
            entered.set()
            release.wait(10)
            super().set_alarm(value)

    host, port = cloud.url.split("//")[1].rsplit(":", 1)
    tap = WireTap(host, int(port))
    try:
        with Device([Slow()], device_id="dev-ack", broker=tap.url):
            pending = threading.Thread(
                target=lambda: cloud.set_desired("dev-ack", "smokeDetector", {"alarm": 1}), daemon=True
            )
            pending.start()
            assert entered.wait(10), "the setter never ran"
            request = next(p for p in tap.packets if p[0] == "down" and "properties/set" in str(p[3]))
            time.sleep(0.2)  # time enough for an early PUBACK to show
            assert ("up", "PUBACK", request[2], None) not in tap.packets
            release.set()
            pending.join(10)
            eventually(lambda: ("up", "PUBACK", request[2], None) in tap.packets, what="the PUBACK")
            up = [p for p in tap.packets if p[0] == "up"]
            answer = next(i for i, p in enumerate(up) if "properties/set/response" in str(p[3]))
            assert up.index(("up", "PUBACK", request[2], None)) > answer  # answered, then acknowledged
    finally:
        tap.close()
