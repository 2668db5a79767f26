"""Tencent's Python SDK (tencent-iot-device) as a device against our local cloud, both modes.

The SDK pins a broken dependency (pycrypto) and installs top-level packages named ``hub`` and
``explorer``, so it lives in its own venv (made here on first use, or given by
THINGMODEL_TENCENT_PYTHON) and runs in its own process (peers/tencent_device.py). That process
prints one JSON line per message the SDK published (``sent``) and per message that reached one of
the SDK's callbacks (``property``, ``event``, ``action``, ``shadow``), in whatever order they
happen; :class:`Peer` collects them as they come and waits for the ones a test needs. Every
assertion about a reply is on what the SDK's callback received, matched by clientToken to the
request the SDK itself sent.
"""

from __future__ import annotations

import logging
import os
import subprocess
import urllib.parse
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud

from ..integration.helpers import eventually
from .peer_process import WAIT, PeerProcess, Step

PEER = Path(__file__).parent / "peers" / "tencent_device.py"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "venv-tencent"
PID, DEV = "ABCDEFGHIJ", "sdkdev"
DEVICE = f"{PID}.{DEV}"


@pytest.fixture(scope="session")
def tencent_python() -> str:
    given = os.environ.get("THINGMODEL_TENCENT_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        # a plain install fails: the SDK pins pycrypto 2.6.1, which no longer builds
        packages = ["tencent-iot-device==1.0.0", "paho-mqtt==1.5.1", "pycryptodome"]
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *packages], check=True)
    return str(python)


class Peer(PeerProcess):
    """The SDK device in its own process; ``steps`` are its JSON lines, in the order they came.

    It starts its script at once, prints ``ready`` when it has sent all its own requests, and runs
    until :meth:`finish` closes its stdin.
    """

    @classmethod
    def device(cls, python: str, mode: str, host: str, port: int) -> Peer:
        return cls([python, str(PEER), mode, host, str(port), PID, DEV, "120"])

    def sent(self, **fields: Any) -> list[Step]:
        """The payloads the SDK published that have these fields (as it built them)."""
        with self._changed:
            return [
                s["payload"]
                for s in self.steps
                if s["step"] == "sent"
                and isinstance(s["payload"], dict)
                and all(s["payload"].get(k) == v for k, v in fields.items())
            ]

    def answer(self, callback: str, request: Step, method: str | None = None) -> Step:
        """What the SDK's ``callback`` received in answer to ``request`` (same clientToken, and
        the given method: one token can be on a request's reply and a later request's)."""
        token = request["clientToken"]

        def match(s: Step) -> bool:
            p = s.get("payload", {})
            return (
                s["step"] == callback
                and p.get("clientToken") == token
                and (method is None or p.get("method") == method)
            )

        step = self.wait_for(f"the answer ({method or callback}) to {request}", match)
        assert isinstance(step["payload"], dict)
        return step["payload"]

    def finish(self) -> list[Step]:
        """Stop the peer (it ends when its stdin closes) and give every step it printed."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=WAIT)
        self.join_readers()
        assert self.process.returncode == 0, self.trouble()
        assert self.steps[-1]["step"] == "done", self.trouble()
        return self.steps


@pytest.fixture(params=["hub", "explorer"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["embedded", "mosquitto"])
def tencent_cloud(request: pytest.FixtureRequest, mode: str) -> Iterator[LocalCloud]:
    """The local cloud on the default (embedded) broker, and with mosquitto as --broker."""
    if request.param == "embedded":
        cloud = LocalCloud(vendor=f"tencent-{mode}", port=free_port())
    else:
        mosquitto = request.getfixturevalue("mosquitto")
        cloud = LocalCloud(vendor=f"tencent-{mode}", broker=mosquitto.url)
    with cloud:
        yield cloud


@pytest.fixture
def peer(mode: str, tencent_cloud: LocalCloud, tencent_python: str) -> Iterator[Peer]:
    """The SDK device, started, with all its own requests sent (its ``ready``)."""
    parts = urllib.parse.urlsplit(tencent_cloud.url)
    device = Peer.device(tencent_python, mode, str(parts.hostname), int(parts.port or 1883))
    try:
        device.wait_for("the peer's ready", lambda s: s["step"] == "ready", timeout=30)
        yield device
    finally:
        device.kill()


def reported(cloud: LocalCloud) -> dict[str, Any]:
    return dict(cloud.get_shadow(DEVICE).get(PID, {}).get("reported", {}))


def settled(peer: Peer, mode: str) -> None:
    """Wait until the cloud has answered the SDK's last request (the bad one) so nothing of the
    SDK's own script is still in flight."""
    [bad] = peer.sent(clientToken="bad-1")
    peer.answer("property" if mode == "explorer" else "shadow", bad)


def test_the_sdk_device_reports_and_follows_our_desired_values(
    mode: str, tencent_cloud: LocalCloud, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    eventually(lambda: reported(tencent_cloud).get("alarm") == 0, what="the SDK's first report in the shadow")
    settled(peer, mode)
    with caplog.at_level(logging.INFO, logger="thingmodel.vendors.tencent"):
        outcome = tencent_cloud.set_desired(DEVICE, PID, {"alarm": 1}, timeout=10)
    assert outcome.ok, outcome
    eventually(lambda: reported(tencent_cloud).get("alarm") == 1, what="the SDK's report of the new value")
    if mode == "explorer":
        control = peer.wait_for(
            "the control at the SDK's property callback",
            lambda s: s["step"] == "property" and s["payload"].get("method") == "control",
        )["payload"]
        assert control["params"] == {"alarm": 1} and control["clientToken"], control
        # the SDK answers control without "method": accepted (outcome.ok), and said so in the log
        [control_reply] = peer.sent(clientToken=control["clientToken"])
        assert control_reply == {"code": 0, "clientToken": control["clientToken"], "status": "ok"}
        assert any("control_reply without method" in r.getMessage() for r in caplog.records)
        # ... then reports the value it applied, and that report's reply reaches it with code 0
        [report] = [p for p in peer.sent(method="report") if p["params"] == {"alarm": 1}]
        reply = peer.answer("property", report, "report_reply")
        assert reply["code"] == 0 and reply["status"] == "success", reply
    else:
        delta = peer.wait_for(
            "the delta at the SDK's shadow callback",
            lambda s: s["step"] == "shadow" and s["payload"].get("type") == "delta",
        )["payload"]
        assert delta["payload"]["state"] == {"alarm": 1} and isinstance(delta["payload"]["version"], int)
        # the SDK reports the value and clears desired in one update, whose result reaches it
        [update] = peer.sent(clientToken=f"{PID}-d1")
        assert update["state"] == {"reported": {"alarm": 1}, "desired": None}, update
        result = peer.answer("shadow", update)
        assert result["type"] == "update" and result["result"] == 0, result
        assert result["payload"]["version"] > delta["payload"]["version"], (result, delta)
        # the SDK cleared desired after applying it, as Tencent devices do
        eventually(
            lambda: "alarm" not in tencent_cloud.get_shadow(DEVICE)[PID].get("desired", {}),
            what="desired cleared by the SDK",
        )
    steps = peer.finish()
    # exactly one control / delta came, and nothing the SDK sent was refused but the bad request
    pushes = [s for s in steps if _is_push(s)]
    assert len(pushes) == 1, pushes
    assert _refused(steps) == ["bad-1"], _refused(steps)


def _is_push(s: Step) -> bool:
    p = s.get("payload")
    if s["step"] == "sent" or not isinstance(p, dict):
        return False
    return p.get("method") == "control" or p.get("type") == "delta"


def _refused(steps: list[Step]) -> list[str]:
    """The tokens of every answer that reached an SDK callback with a non-zero code/result."""
    out = []
    for s in steps:
        p = s.get("payload")
        if s["step"] != "sent" and isinstance(p, dict) and p.get("code", p.get("result", 0)) != 0:
            out.append(str(p.get("clientToken")))
    return out


#: Explorer: the reply each request gets, and the SDK callback it reaches
EXPLORER_REPLIES = {
    "report": ("property", "report_reply"),
    "get_status": ("property", "get_status_reply"),
    "report_info": ("property", "report_info_reply"),
    "clear_control": ("property", "clear_control_reply"),
    "event_post": ("event", "event_reply"),
    "events_post": ("event", "event_reply"),
}


def test_every_reply_the_platform_owes_reaches_the_sdk_with_code_0_and_a_bad_request_gets_an_error(
    mode: str, peer: Peer
) -> None:
    if mode == "explorer":
        requests = [p for p in peer.sent() if p.get("method") in EXPLORER_REPLIES]
        good = [p for p in requests if p["clientToken"] != "bad-1"]
        assert sorted({p["method"] for p in good}) == sorted(EXPLORER_REPLIES), requests
        answers = {}
        for request in good:
            callback, method = EXPLORER_REPLIES[request["method"]]
            reply = peer.answer(callback, request, method)
            assert reply["code"] == 0 and reply["status"] == "success", (request, reply)
            answers[request["method"]] = reply
        # get_status_reply holds what the SDK reported before asking, and no pending control
        assert answers["get_status"]["data"] == {"reported": {"alarm": 0}}, answers["get_status"]
        # clear_control carries the get_status_reply's token (the SDK's own bookkeeping)
        [clear] = peer.sent(method="clear_control")
        assert clear["clientToken"] == answers["get_status"]["clientToken"], clear
        # one event_reply each for event_post (one event) and events_post (two)
        [one, two] = [p for p in good if p["method"] in ("event_post", "events_post")]
        assert (len(one["events"]), len(two["events"])) == (1, 2), (one, two)
        assert answers["event_post"]["version"] == "1.0" and answers["events_post"]["data"] == {}
        [bad] = peer.sent(clientToken="bad-1")
        refusal = peer.answer("property", bad, "report_reply")
        assert refusal["code"] != 0 and isinstance(refusal["status"], str) and refusal["status"], refusal
        assert "params" in refusal["status"], refusal
    else:
        [update] = peer.sent(type="update", clientToken=f"{PID}-r")
        result = peer.answer("shadow", update)
        assert result["type"] == "update" and result["result"] == 0, result
        version = result["payload"]["version"]
        assert isinstance(version, int) and version >= 1, result
        [get] = peer.sent(type="get")
        shadow = peer.answer("shadow", get)
        assert shadow["type"] == "get" and shadow["result"] == 0, shadow
        assert shadow["payload"]["state"] == {"reported": {"alarm": 0}}, shadow
        assert shadow["payload"]["version"] == version, (shadow, result)
        [bad] = peer.sent(clientToken="bad-1")
        refusal = peer.answer("shadow", bad)
        assert refusal["type"] == "update" and refusal["result"] != 0, refusal
    steps = peer.finish()
    # every answer reached the SDK once, and only the bad request was refused
    answered = [
        s["payload"]["clientToken"]
        for s in steps
        if s["step"] != "sent" and "clientToken" in s.get("payload", {})
    ]
    tokens = [p["clientToken"] for p in peer.sent()]
    assert sorted(answered) == sorted(tokens), (answered, tokens)
    assert _refused(steps) == ["bad-1"], _refused(steps)
