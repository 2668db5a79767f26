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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud

from ..integration.helpers import eventually
from .huawei_peer import Peer as SdkPeer
from .huawei_peer import huawei_python as sdk_python
from .huawei_peer import needs_sdk, running
from .peer_process import WAIT

PEER = Path(__file__).parent / "peers" / "huawei_rules.py"
SECRET = "secret-of-the-sdk"

pytestmark = needs_sdk


@pytest.fixture(scope="module")
def huawei_python() -> str:
    return sdk_python()


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port(), http_port=0) as cloud:
        yield cloud


class Peer(SdkPeer):
    """The SDK device, running peers/huawei_rules.py."""

    def __init__(self, python: str, port: int, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(python, PEER, "127.0.0.1", str(port), device_id, SECRET)


@pytest.fixture
def peer(request: pytest.FixtureRequest, cloud: LocalCloud, huawei_python: str) -> Iterator[Peer]:
    device_id = "hw-rules-" + request.node.name.removeprefix("test_").replace("_", "-")[:40]
    yield from running(Peer(huawei_python, cloud.port, device_id))


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
