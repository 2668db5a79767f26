"""Huawei's own Python device SDK (1.2.0, from ../shared/peers/huawei) running on-device rules
pushed by the local cloud: its ``RuleManageService`` takes the ``$device_rule`` write (and
answers it), asks for the rules (``device_rule_config_request``), parses the cloud's
``device_rule_config_response``, and runs a rule's command when a report meets its condition
and when its timer is due.

The SDK runs in its own venv (made on first use, or THINGMODEL_HUAWEI_PYTHON) as
``peers/huawei_rules.py``, driven through its stdin; assertions are on what its command listener
received and on what the cloud saw it send.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud

from ..integration.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT.parent / "shared" / "peers" / "huawei"
PEER = Path(__file__).parent / "peers" / "huawei_rules.py"
VENV = ROOT / ".cache" / "venv-huawei"
SECRET = "secret-of-the-sdk"
WAIT = 15.0

Step = dict[str, Any]

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        not (SDK / "iot_device_sdk_python").is_dir(), reason="../shared/peers/huawei (Huawei's SDK) is absent"
    ),
]


@pytest.fixture(scope="module")
def huawei_python() -> str:
    given = os.environ.get("THINGMODEL_HUAWEI_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        requirements = SDK / "requirements.txt"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    return str(python)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port(), http_port=0) as cloud:
        yield cloud


class Peer:
    """The SDK device in its own process; ``steps`` are the JSON lines it printed."""

    def __init__(self, python: str, port: int, device_id: str) -> None:
        self.device_id = device_id
        args = [python, str(PEER), "127.0.0.1", str(port), device_id, SECRET]
        env = {**os.environ, "PYTHONPATH": str(SDK)}
        self.process = subprocess.Popen(
            args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.steps: list[Step] = []
        self._stderr: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.wait_for("ready", lambda s: s["step"] == "ready")

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                with self._changed:
                    self.steps.append(json.loads(line))
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self._stderr.extend(self.process.stderr)

    def trouble(self) -> str:
        return f"\npeer steps: {self.steps}\npeer stderr: {''.join(self._stderr)[-3000:]}"

    def do(self, what: str, **order: Any) -> Step:
        done = len(self.kind("did"))
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": what, **order}) + "\n")
        self.process.stdin.flush()
        self.wait_for(f"{what} done", lambda s: s["step"] == "did" and len(self.kind("did")) > done)
        return self.kind("did")[-1]

    def kind(self, kind: str) -> list[Step]:
        return [s for s in list(self.steps) if s["step"] == kind]

    def wait_for(self, what: str, match: Callable[[Step], bool], timeout: float = WAIT) -> Step:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for s in self.steps:
                    if s["step"] == "failed":
                        raise AssertionError(f"the peer failed: {s['why']}{self.trouble()}")
                    if match(s):
                        return s
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    raise AssertionError(f"no {what} (peer ended: {self._ended}){self.trouble()}")
                self._changed.wait(left)

    def finish(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"do": "quit"}) + "\n")
            self.process.stdin.flush()
            self.process.wait(timeout=WAIT)
        assert self.process.returncode == 0, self.trouble()


@pytest.fixture
def peer(request: pytest.FixtureRequest, cloud: LocalCloud, huawei_python: str) -> Iterator[Peer]:
    device_id = "hw-rules-" + request.node.name.removeprefix("test_").replace("_", "-")[:40]
    peer = Peer(huawei_python, cloud.port, device_id)
    try:
        yield peer
        peer.finish()
    finally:
        if peer.process.poll() is None:
            peer.process.kill()
            peer.process.wait()


def cool_when_hot(device_id: str) -> dict[str, Any]:
    return {
        "ruleId": "hot",
        "ruleName": "cool when hot",
        "logic": "or",
        "status": "active",
        "conditions": [
            {
                "type": "DEVICE_DATA",
                "operator": ">",
                "value": "30",
                "deviceInfo": {"deviceId": device_id, "path": "climate/temperature"},
            }
        ],
        "actions": [
            {
                "type": "DEVICE_CMD",
                "status": "enable",
                "deviceId": device_id,
                "command": {"serviceId": "climate", "commandName": "cool", "commandBody": {"level": 2}},
            }
        ],
    }


def sdk_rules(peer: Peer) -> dict[str, int]:
    rules: dict[str, int] = peer.do("rules")["rules"]
    return rules


def feed(cloud: LocalCloud, device_id: str, kind: str, topic_part: str) -> list[Any]:
    return [
        json.loads(e.payload)
        for e in cloud.feed.recent(device_id)
        if e.kind == kind and topic_part in e.topic and e.payload.startswith("{")
    ]


def test_the_sdk_fetches_pushed_rules_and_runs_the_command_when_a_report_meets_them(
    cloud: LocalCloud, peer: Peer
) -> None:
    device = peer.device_id
    cloud.push_rules(device, [cool_when_hot(device)])
    eventually(lambda: sdk_rules(peer) == {"hot": 1}, timeout=WAIT, what="the SDK to hold the rule")
    # it answered the $device_rule write with success and asked for the rule by id
    assert feed(cloud, device, "up", "properties/set/response") == [
        {"result_code": 0, "result_desc": "Success"}
    ]
    asks = [
        entry["paras"]
        for body in feed(cloud, device, "up", "events/up")
        for entry in body["services"]
        if (entry["service_id"], entry["event_type"]) == ("$device_rule", "device_rule_config_request")
    ]
    assert asks == [{"ruleIds": ["hot"], "delIds": []}]

    peer.do("report", service="climate", properties={"temperature": 25})
    peer.do("report", service="climate", properties={"temperature": 35})
    command = peer.wait_for("the rule's command", lambda s: s["step"] == "command")
    assert (command["service_id"], command["command_name"], command["paras"]) == (
        "climate",
        "cool",
        {"level": 2},
    )
    assert len(peer.kind("command")) == 1  # the report at 25 ran nothing
    eventually(
        lambda: cloud.get_shadow(device).get("climate", {}).get("reported") == {"temperature": 35},
        what="the reports in the shadow",
    )


def test_the_sdk_runs_a_timer_rule_and_drops_a_deleted_rule(cloud: LocalCloud, peer: Peer) -> None:
    device = peer.device_id
    start = time.gmtime(time.time() + 2)
    timer = {
        "ruleId": "soon",
        "logic": "or",
        "status": "active",
        "conditions": [
            {
                "type": "SIMPLE_TIMER",
                "startTime": time.strftime("%Y-%m-%d %H:%M:%S", start),
                "repeatInterval": 1,
                "repeatCount": 2,
            }
        ],
        "actions": [
            {
                "type": "DEVICE_CMD",
                "status": "enable",
                "deviceId": device,
                "command": {"serviceId": "climate", "commandName": "selfTest", "commandBody": {}},
            }
        ],
    }
    cloud.push_rules(device, [cool_when_hot(device), timer])
    eventually(lambda: sdk_rules(peer) == {"hot": 1, "soon": 1}, timeout=WAIT, what="both rules")
    eventually(lambda: len(peer.kind("command")) >= 2, timeout=WAIT, what="the timer's two runs")
    assert [c["command_name"] for c in peer.kind("command")] == ["selfTest", "selfTest"]

    cloud.push_rules(device, [timer])  # "hot" left out: deleted (version -1)
    eventually(lambda: "hot" not in sdk_rules(peer), timeout=WAIT, what="the deletion")
    peer.do("report", service="climate", properties={"temperature": 99})
    time.sleep(0.5)  # a command would come within ms; none must
    assert [c["command_name"] for c in peer.kind("command")] == ["selfTest", "selfTest"]
