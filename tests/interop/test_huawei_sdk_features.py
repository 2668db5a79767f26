"""Huawei's own Python device SDK (1.2.0, from ../shared/peers/huawei) using its system services
against the local cloud: time sync, device info, device logs (and the cloud's ``log_config``),
messages up and down, OTA and file upload + download, each through the SDK's own service class.

The SDK runs in its own venv (made on first use, or THINGMODEL_HUAWEI_PYTHON) as
``peers/huawei_features.py``, driven through its stdin; each assertion is on what the SDK's
callbacks received (one JSON line each) and on what the cloud kept of what it sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.shadows import ShadowCloud
from thingmodel.protocol import messages as ev

from ..integration.helpers import eventually
from .huawei_peer import Peer as SdkPeer
from .huawei_peer import huawei_python as sdk_python
from .huawei_peer import needs_sdk, running
from .peer_process import WAIT

PEER = Path(__file__).parent / "peers" / "huawei_features.py"
SECRET = "secret-of-the-sdk"
SDK_VERSION = "Python_v1.2.0"  # what the SDK says it is in $sdk_info (device_client.py)

pytestmark = needs_sdk


@pytest.fixture(scope="session")
def huawei_python() -> str:
    return sdk_python()


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port(), http_port=0) as cloud:  # the embedded broker
        yield cloud


class Peer(SdkPeer):
    """The SDK device, running peers/huawei_features.py."""

    def __init__(self, python: str, port: int, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(python, PEER, "127.0.0.1", str(port), device_id, SECRET)


@pytest.fixture
def peer(request: pytest.FixtureRequest, cloud: LocalCloud, huawei_python: str) -> Iterator[Peer]:
    device_id = "hw-sdk-" + request.node.name.removeprefix("test_").replace("_", "-")[:40]
    yield from running(Peer(huawei_python, cloud.port, device_id))


def now_ms() -> int:
    return int(time.time() * 1000)


# --- time sync ---------------------------------------------------------------------------------
def test_its_time_sync_gets_the_cloud_s_clock_within_a_few_ms(peer: Peer) -> None:
    before = now_ms()
    peer.do("time_sync")
    sync = peer.wait_for("the time-sync answer", lambda s: s["step"] == "time_sync")
    after = now_ms()
    # the answer echoes the SDK's send time (it sent a string; the SDK int()s what comes back)
    assert before <= sync["device_send_time"] <= sync["server_recv_time"] + 1
    assert sync["server_recv_time"] <= sync["server_send_time"] <= sync["device_recv_time"] + 1 <= after + 1
    # the offset the SDK's formula gives: one clock on loopback, so within a few ms of zero
    assert abs(sync["offset_ms"]) <= 5, sync


# --- device info -------------------------------------------------------------------------------
def test_its_device_info_reports_reach_the_cloud(cloud: LocalCloud, peer: Peer) -> None:
    def infos() -> list[dict[str, Any]]:
        return [dict(i.params) for i in cloud.activity(peer.device_id).info]

    # auto_report_device_info: the SDK sends its own version once connected, no app versions yet
    eventually(lambda: len(infos()) >= 1, what="the SDK's automatic $sdk_info report")
    assert infos()[0] == {"device_sdk_version": SDK_VERSION, "sw_version": "", "fw_version": ""}
    assert cloud.versions(peer.device_id) is None  # empty versions say nothing
    peer.do("info", fw="fw-2.1.0", sw="sw-3.4.5")
    eventually(lambda: len(infos()) >= 2, what="the $sdk_info report it was asked for")
    assert infos()[1] == {
        "device_sdk_version": SDK_VERSION,
        "sw_version": "sw-3.4.5",
        "fw_version": "fw-2.1.0",
    }
    versions = cloud.versions(peer.device_id)  # what OTA knows of the device, from its info
    assert versions is not None and (versions.fw_version, versions.sw_version) == ("fw-2.1.0", "sw-3.4.5")


# --- logs --------------------------------------------------------------------------------------
def configure_log(cloud: LocalCloud, device_id: str, enabled: bool, until_ms: int | None = None) -> None:
    """The cloud's ``log_config``, encoded by the Huawei platform codec."""
    assert isinstance(cloud.platform, ShadowCloud)
    for out in cloud.platform.codec.encode(ev.ConfigureLog(device_id, enabled, until_ms)):
        cloud.publish(out)


def test_its_log_reports_reach_the_cloud_and_log_config_switches_them(cloud: LocalCloud, peer: Peer) -> None:
    def logs() -> list[dict[str, Any]]:
        return [dict(entry.params) for entry in cloud.activity(peer.device_id).logs]

    # the SDK's DefaultConnLogListener reports the connection itself (log_switch is on by default)
    eventually(lambda: len(logs()) >= 1, what="the SDK's own connect log")
    connected = logs()[0]
    assert connected["type"] == "DEVICE_STATUS"
    assert connected["content"].startswith("connect complete, the uri is ")
    assert isinstance(connected["timestamp"], str) and connected["timestamp"].isdigit()  # ms, as a string
    peer.do("log", type="DEVICE_MESSAGE", content="a line of the device's log")
    assert peer.kind("log")[-1]["sent"] is True
    eventually(lambda: len(logs()) >= 2, what="the log line it reported")
    assert {k: logs()[1][k] for k in ("type", "content")} == {
        "type": "DEVICE_MESSAGE",
        "content": "a line of the device's log",
    }

    # the cloud switches logs off: the SDK's DeviceLogService takes it, the device stops reporting
    seen = peer.count("log_state")
    configure_log(cloud, peer.device_id, False)
    off = peer.wait_for("log_config off", lambda s: s["step"] == "log_state", after=seen)
    assert off["switch"] is False and off["can_report"] is False, off
    peer.do("log", type="DEVICE_MESSAGE", content="not to be sent")
    assert peer.kind("log")[-1]["sent"] is False

    # ... and on again, until a day from now (a day: the SDK compares this UTC time with its
    # *local* clock, device_log_service.py can_report_log)
    until = now_ms() + 86_400_000
    seen = peer.count("log_state")
    configure_log(cloud, peer.device_id, True, until)
    on = peer.wait_for("log_config on", lambda s: s["step"] == "log_state", after=seen)
    # end_time in IoTDA's yyyyMMdd'T'HHmmss'Z', which the SDK's can_report_log() can read
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(until // 1000))
    assert on == {"step": "log_state", "switch": True, "end_time": stamp, "can_report": True}
    peer.do("log", type="DEVICE_STATUS", content="logging again")
    assert peer.kind("log")[-1]["sent"] is True
    eventually(lambda: len(logs()) >= 3, what="the log line after log_config on")
    # the line written while off never came
    assert [entry["content"] for entry in logs()[1:]] == ["a line of the device's log", "logging again"]


# --- messages ----------------------------------------------------------------------------------
def test_its_messages_go_up_and_come_down(cloud: LocalCloud, peer: Peer) -> None:
    peer.do("message", name="greeting", id="up-1", content="hello from the Huawei SDK")
    eventually(lambda: bool(cloud.activity(peer.device_id).messages), what="the message up")
    [up] = cloud.activity(peer.device_id).messages
    assert json.loads(up.payload) == {
        "object_device_id": "",
        "id": "up-1",
        "name": "greeting",
        "content": "hello from the Huawei SDK",
    }

    # a message in IoTDA's system format reaches both of the SDK's message listeners
    down = {"object_device_id": peer.device_id, "id": "down-1", "name": "settings", "content": "lamp on"}
    cloud.send_message(peer.device_id, json.dumps(down).encode())
    message = peer.wait_for("the message down", lambda s: s["step"] == "device_message")
    assert {k: message[k] for k in down} == down
    raw = peer.wait_for("the raw message down", lambda s: s["step"] == "raw_message")
    assert json.loads(bytes.fromhex(raw["payload_hex"])) == down
    # any other bytes reach its raw listener, byte for byte
    cloud.send_message(peer.device_id, b"\x00\xffbinary")
    binary = peer.wait_for("the binary message", lambda s: s["step"] == "raw_message", after=1)
    assert bytes.fromhex(binary["payload_hex"]) == b"\x00\xffbinary"
    assert len(peer.kind("device_message")) == 1


# --- OTA ---------------------------------------------------------------------------------------
def test_its_ota_downloads_the_package_the_cloud_pushes_and_the_cloud_records_the_version(
    cloud: LocalCloud, peer: Peer
) -> None:
    # the cloud's version query reaches the SDK's OTAListener, and its version report comes back
    before = cloud.query_version(peer.device_id, timeout=WAIT)
    query = peer.wait_for("the version query", lambda s: s["step"] == "version_query")
    assert query["paras"] == {}
    assert (before.fw_version, before.sw_version) == ("1.0.0", "sw-1.0.0")

    data = os.urandom(200_000)
    package = cloud.packages.add(data, version="2.0.0", name="firmware-2.0.0.bin")
    upgrade = cloud.upgrade(peer.device_id, package)

    # the SDK's OTAService handed the offer to its listener, in IoTDA's fields
    offer = peer.wait_for("the upgrade offer", lambda s: s["step"] == "package")
    assert offer["info_class"] == "OTAPackageInfo"  # the form with a Bearer token, not _v2
    paras = offer["paras"]
    assert paras["version"] == "2.0.0"
    assert paras["file_size"] == len(data)
    assert paras["file_name"] == "firmware-2.0.0.bin"
    assert paras["sign"] == hashlib.sha256(data).hexdigest()
    assert paras["url"].startswith(f"{cloud.http_url}/")
    assert paras["access_token"] and paras["expires"] > 0
    assert paras["task_id"] == upgrade.task_id
    # it downloaded the package with the Bearer token, and its hash is the one it was given
    downloaded = peer.wait_for(
        "the download", lambda s: s["step"] in ("downloaded_package", "download_refused")
    )
    assert downloaded["step"] == "downloaded_package", downloaded
    assert downloaded["size"] == downloaded["content_length"] == len(data)
    assert downloaded["sha256"] == downloaded["sign"] == paras["sign"]
    peer.wait_for("the install", lambda s: s["step"] == "upgraded")

    # its progress reached 100 and the cloud records the new version
    done = cloud.wait_upgrade(upgrade.task_id, WAIT)
    assert (done.state, done.percent, done.version) == ("succeeded", 100, "2.0.0"), done
    recorded = cloud.versions(peer.device_id)
    assert recorded is not None and recorded.fw_version == "2.0.0", recorded
    after = cloud.query_version(peer.device_id, timeout=WAIT)
    assert (after.fw_version, after.sw_version) == ("2.0.0", "sw-1.0.0")

    # the same version again: the SDK's "no need" code (3) reaches the cloud as a failure "current"
    again = cloud.upgrade(peer.device_id, package)
    peer.wait_for("the refusal", lambda s: s["step"] == "refused")
    refused = cloud.wait_upgrade(again.task_id, WAIT)
    assert (refused.state, refused.failure, refused.reason) == (
        "failed",
        "current",
        "already at version 2.0.0",
    )
    kept = cloud.versions(peer.device_id)
    assert kept is not None and kept.fw_version == "2.0.0"  # the old version stays


# --- files -------------------------------------------------------------------------------------
def test_its_file_upload_and_download_go_through_the_cloud(
    cloud: LocalCloud, peer: Peer, tmp_path: Path
) -> None:
    def results() -> list[tuple[str, str, int, int | None]]:
        kept = cloud.activity(peer.device_id).files
        return [(r.direction, r.file_name, r.code, r.status_code) for r in kept]

    # upload: the SDK asks for a URL (with the file's sha256 and size), PUTs there, reports it
    upload = tmp_path / "report.txt"
    upload.write_bytes(b"temperature log\n" * 1000)
    peer.do("upload", name="report.txt", path=str(upload))
    url = peer.wait_for("the upload URL", lambda s: s["step"] == "upload_url")
    assert url["paras"]["object_name"] == "report.txt"  # the name its listener looks the path up by
    assert url["paras"]["url"].startswith(f"{cloud.http_url}/")
    assert url["paras"]["bucket_name"] and url["paras"]["expire"] > 0
    uploaded = peer.wait_for("the upload", lambda s: s["step"] == "uploaded")
    assert uploaded["status"] == 200, uploaded
    assert cloud.file(peer.device_id, "report.txt") == upload.read_bytes()
    assert cloud.files(peer.device_id) == ["report.txt"]
    eventually(lambda: bool(results()), what="the SDK's upload_result_report")
    assert results() == [("upload", "report.txt", 0, 200)]

    # download: a file the cloud keeps for the device reaches it byte for byte
    data = b"setting=1\n" + os.urandom(5000)
    cloud.put_file(peer.device_id, "settings.bin", data)
    target = tmp_path / "settings.bin"
    peer.do("download", name="settings.bin", path=str(target))
    url = peer.wait_for("the download URL", lambda s: s["step"] == "download_url")
    assert url["paras"]["object_name"] == "settings.bin"
    assert url["paras"]["url"].startswith(f"{cloud.http_url}/")
    downloaded = peer.wait_for("the download", lambda s: s["step"] == "downloaded")
    assert downloaded["status"] == 200, downloaded
    assert bytes.fromhex(downloaded["content_hex"]) == data
    assert target.read_bytes() == data
    eventually(lambda: len(results()) == 2, what="the SDK's download_result_report")
    assert results()[1] == ("download", "settings.bin", 0, 200)
