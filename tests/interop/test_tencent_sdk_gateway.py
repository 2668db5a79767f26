"""Tencent's Python SDK (tencent-iot-device) as a gateway against our local cloud, both modes.

The SDK's own gateway API (hub/services/gateway/gateway.py) binds a sub-device (signing the bind
itself), brings it online, asks for its sub-devices and then serves the sub-device's own topics
over the gateway's one connection (peers/tencent_gateway.py). The cloud runs with a registry,
so the SDK's sign-in and its bind signature are checked against the registered secrets, and the
gateway may use the sub-device's topics only once it is bound and online. Assertions are on what
the SDK's calls returned and its handlers received, and on what the cloud holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.registry import Registry

from ..integration.helpers import eventually
from .peer_process import WAIT
from .test_tencent_sdk import Peer, tencent_python  # noqa: F401  (a fixture)

PEER = Path(__file__).parent / "peers" / "tencent_gateway.py"
GW_PID, GW_DN, GW_SECRET = "ABCDEFGHIJ", "sdkgateway", "c2VjcmV0c2VjcmV0c2VjcmV0"
PID, DN, SUB_SECRET = "CFCSQ5EAG7", "sdkchild", "c3ViLWRldmljZSBzZWNyZXQ="
GATEWAY, CHILD = f"{GW_PID}.{GW_DN}", f"{PID}.{DN}"
#: a second sub-device, which the SDK binds with a wrong secret
OTHER = f"{CHILD}-other"


class GatewayPeer(Peer):
    """The SDK gateway in its own process (see the module docstring of its script)."""

    def __init__(self, python: str, mode: str, port: int) -> None:
        args = [
            python,
            str(PEER),
            mode,
            "127.0.0.1",
            str(port),
            GW_PID,
            GW_DN,
            GW_SECRET,
            PID,
            DN,
            SUB_SECRET,
            "120",
        ]
        super().__init__(args)

    def replies(self, kind: str) -> list[dict[str, Any]]:
        """What the SDK's gateway handler received of ``kind`` (bind, online, ...)."""
        with self._changed:
            return [
                s["payload"]
                for s in self.steps
                if s["step"] == "gateway" and s["payload"].get("type") == kind
            ]


@pytest.fixture(params=["hub", "explorer"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cloud(mode: str, tmp_path: Path) -> Iterator[LocalCloud]:
    registry = Registry.new(tmp_path / "registry.json", f"tencent-{mode}")
    registry.add(GATEWAY, GW_SECRET)
    registry.add(CHILD, SUB_SECRET)
    registry.add(OTHER, "b3RoZXIgc3ViLWRldmljZQ==")
    with LocalCloud(vendor=f"tencent-{mode}", port=free_port(), registry=registry) as running:
        yield running


@pytest.fixture
def gateway(mode: str, cloud: LocalCloud, tencent_python: str) -> Iterator[GatewayPeer]:  # noqa: F811
    peer = GatewayPeer(tencent_python, mode, cloud.port)
    try:
        peer.wait_for("the peer's ready", lambda s: s["step"] == "ready", timeout=30)
        yield peer
    finally:
        peer.kill()


def _results(reply: dict[str, Any]) -> dict[str, int]:
    return {f"{d['product_id']}.{d['device_name']}": d["result"] for d in reply["payload"]["devices"]}


def test_the_sdks_gateway_binds_and_serves_its_sub_device_over_its_connection(
    mode: str, cloud: LocalCloud, gateway: GatewayPeer
) -> None:
    # the SDK signed both binds itself: the wrong secret's was refused (803), the right one's taken
    assert [(c["secret"], c["rc"]) for c in gateway.kind("bind")] == [("wrong", 1), ("right", 0)]
    assert [_results(r) for r in gateway.replies("bind")] == [{OTHER: 803}, {CHILD: 0}]
    assert cloud.gateways.parent_of(OTHER) is None
    [signed, _] = gateway.sent(type="bind")
    assert {k: signed["payload"]["devices"][0][k] for k in ("signmethod", "authtype")} == {
        "signmethod": "hmacsha1",
        "authtype": "psk",
    }
    assert [c["rc"] for c in gateway.kind("online")] == [0]
    assert [_results(r) for r in gateway.replies("online")] == [{CHILD: 0}]
    [describe] = gateway.kind("describe")
    assert describe["rc"] == 0 and describe["devices"] == [CHILD]
    assert cloud.gateways.parent_of(CHILD) == GATEWAY and cloud.summary(CHILD).online is True
    # the sub-device's report, on its own topics over the gateway's connection, is in its shadow
    eventually(lambda: _reported(cloud) == {"alarm": 0}, what="the sub-device's report in its shadow")
    assert cloud.get_shadow(GATEWAY) == {}
    # a desired value for the sub-device reaches the SDK on the sub-device's topic, and is applied
    outcome = cloud.set_desired(CHILD, PID, {"alarm": 1}, timeout=WAIT)
    assert outcome.ok, (outcome, gateway.trouble())
    eventually(lambda: _reported(cloud) == {"alarm": 1}, what="the sub-device's report of the new value")
    if mode == "explorer":
        [control] = [s for s in gateway.kind("property") if s["payload"].get("method") == "control"]
        assert control["topic"] == f"$thing/down/property/{PID}/{DN}" and control["payload"]["params"] == {
            "alarm": 1
        }
    else:
        [delta] = [s for s in gateway.kind("shadow") if s["payload"].get("type") == "delta"]
        assert delta["topic"] == f"$shadow/operation/result/{PID}/{DN}"
        assert delta["payload"]["payload"]["state"] == {"alarm": 1}
    # offline when the SDK says so
    steps = gateway.finish()
    assert [s["rc"] for s in steps if s["step"] == "offline"] == [0]
    eventually(lambda: cloud.summary(CHILD).online is False, what="the sub-device offline")
    assert cloud.gateways.parent_of(CHILD) == GATEWAY  # offline, still bound


def _reported(cloud: LocalCloud) -> dict[str, Any]:
    return dict(cloud.get_shadow(CHILD).get(PID, {}).get("reported", {}))
