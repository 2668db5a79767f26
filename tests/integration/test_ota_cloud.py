"""OTA and files through the local cloud on the embedded broker, per vendor: what a device's topics
receive (played by hand with paho, in the vendor's wire payloads: huawei-iotda.md, tencent-more.md
§1, aws-more.md §1), what the HTTP server serves for it, and thingmodel devices upgraded end to
end (a real download, a corrupted package refused, an install that raises)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from thingmodel import Ota, Package, Property, Service
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.errors import DeviceOffline, UnknownDevice

from ..cloud.wire import WireDevice, fetch, huawei_event, huawei_paras
from .helpers import eventually

pytestmark = pytest.mark.broker

VENDORS = ["huawei", "aws", "tencent-hub", "tencent-explorer"]
PID = "OTAPRODUCT"
DATA = b"FW" + os.urandom(400_000)
_NUMBERS = itertools.count(1)


def device_id_for(vendor: str) -> str:
    n = next(_NUMBERS)
    return f"{PID}.dev{n}" if vendor.startswith("tencent") else f"dev-{n}"


@pytest.fixture(scope="module", params=VENDORS)
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    with LocalCloud(vendor=request.param, port=0, http_port=0) as local:
        yield local


@pytest.fixture(scope="module")
def tencent_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="tencent-explorer", port=0, http_port=0) as local:
        yield local


@pytest.fixture(scope="module")
def aws_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="aws", port=0, http_port=0) as local:
        yield local


# --- thingmodel devices, end to end ---------------------------------------------------------------------
class Firmware(Ota):
    """Firmware in a directory; an image without the ``FW`` header fails to install."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "version").write_text("1.0")

    def version(self) -> str:
        return (self.root / "version").read_text()

    def install(self, package: Package) -> None:
        if not package.path.read_bytes().startswith(b"FW"):
            raise ValueError("not a firmware image")
        (self.root / "version").write_text(package.version)


class Status(Service):
    service_id = "status"
    uptime = Property(int, default=0)


@pytest.fixture
def thing(cloud: LocalCloud, tmp_path: Path) -> Iterator[tuple[str, Firmware]]:
    device_id = device_id_for(cloud.vendor)
    firmware = Firmware(tmp_path)
    device = Device([Status()], device_id=device_id, vendor=cloud.vendor, broker=cloud.url, ota=firmware)
    with device:
        eventually(lambda: cloud.presence.is_online(device_id) is True, what="the device online")
        yield device_id, firmware


def test_a_device_downloads_verifies_installs_and_the_cloud_records_the_new_version(
    cloud: LocalCloud, thing: tuple[str, Firmware]
) -> None:
    device_id, firmware = thing
    upgrade = cloud.upgrade(device_id, DATA, version="2.0")
    assert upgrade.state == "pending"
    done = cloud.wait_upgrade(upgrade.task_id, 20)
    assert (done.state, done.percent, done.failure) == ("succeeded", 100, None), done
    assert firmware.version() == "2.0"
    summary = cloud.summary(device_id)
    assert summary.fw_version == "2.0"
    assert [u.task_id for u in cloud.upgrades(device_id)] == [upgrade.task_id]


def test_a_corrupted_package_is_refused_by_its_hash_and_the_old_version_kept(
    cloud: LocalCloud, thing: tuple[str, Firmware]
) -> None:
    device_id, firmware = thing
    package = cloud.packages.add(DATA, version="2.1", name="fw-2.1.bin")
    corrupted = bytearray(DATA)
    corrupted[1000] ^= 0xFF  # same size, another hash: what a bad disk or a middlebox does
    cloud.packages.path(package.id).write_bytes(bytes(corrupted))
    done = cloud.wait_upgrade(cloud.upgrade(device_id, package).task_id, 20)
    assert (done.state, done.failure) == ("failed", "verify"), done
    assert "does not match" in done.reason
    assert firmware.version() == "1.0"


def test_an_install_that_raises_is_reported_as_failed_with_the_reason(
    cloud: LocalCloud, thing: tuple[str, Firmware]
) -> None:
    device_id, firmware = thing
    done = cloud.wait_upgrade(cloud.upgrade(device_id, b"XX not firmware", version="3.0").task_id, 20)
    assert (done.state, done.failure) == ("failed", "install"), done
    assert "not a firmware image" in done.reason
    assert firmware.version() == "1.0"
    assert cloud.summary(device_id).fw_version in (None, "1.0")


def test_an_unknown_or_offline_device_is_refused_at_once(cloud: LocalCloud, tmp_path: Path) -> None:
    with pytest.raises(UnknownDevice):
        cloud.upgrade(device_id_for(cloud.vendor), DATA, version="2.0")
    device_id = device_id_for(cloud.vendor)
    with Device(
        [Status()], device_id=device_id, vendor=cloud.vendor, broker=cloud.url, ota=Firmware(tmp_path)
    ):
        eventually(lambda: cloud.presence.is_online(device_id) is True, what="the device online")
    eventually(lambda: cloud.presence.is_online(device_id) is False, what="the device offline")
    with pytest.raises(DeviceOffline):
        cloud.upgrade(device_id, DATA, version="2.0")


# --- Tencent on the wire ------------------------------------------------------------------------------------
def test_tencent_offers_update_firmware_with_a_tokened_url_and_reads_its_reports(
    tencent_cloud: LocalCloud,
) -> None:
    device_id = f"{PID}.wire1"
    wire = WireDevice(tencent_cloud, device_id, f"$ota/update/{PID}/wire1")
    up = f"$ota/report/{PID}/wire1"
    try:
        wire.publish(up, {"type": "report_version", "report": {"version": "1.0"}})
        topic, answer = wire.take()
        assert (topic, answer["type"], answer["result_code"], answer["version"]) == (
            f"$ota/update/{PID}/wire1",
            "report_version_rsp",
            0,
            "1.0",
        )
        upgrade = tencent_cloud.upgrade(device_id, DATA, version="2.0")
        _, offer = wire.take(lambda t, b: isinstance(b, dict) and b.get("type") == "update_firmware")
        assert (offer["version"], offer["file_size"], offer["md5sum"]) == (
            "2.0",
            len(DATA),
            hashlib.md5(DATA).hexdigest(),
        )
        url = urlsplit(offer["url"])
        assert offer["url"].startswith(f"{tencent_cloud.http_url}/thingmodel/v1/packages/")
        assert parse_qs(url.query)["token"][0].startswith("tmtok_")
        status, _, body = fetch(offer["url"])  # no header: the URL carries the token
        assert status == 200 and hashlib.md5(body).hexdigest() == offer["md5sum"]
        status, _, body = fetch(offer["url"], {"Range": f"bytes=100-{len(DATA)}"})  # the C SDK's form
        assert status == 206 and body == DATA[100:]
        assert fetch(offer["url"].split("?")[0])[0] == 401

        def progress(state: str, **extra: str) -> dict[str, Any]:
            return {
                "type": "report_progress",
                "report": {
                    "progress": {"state": state, "result_code": "0", "result_msg": "", **extra},
                    "version": "2.0",
                },
            }

        wire.publish(up, progress("downloading", percent="50"))
        moved = tencent_cloud.next_upgrade_change(upgrade.task_id, 0, 5)
        assert (moved.state, moved.percent) == ("downloading", 50)
        wire.publish(up, progress("burning"))
        wire.publish(up, progress("done"))
        done = tencent_cloud.wait_upgrade(upgrade.task_id, 5)
        assert done.state == "succeeded"
        assert tencent_cloud.summary(device_id).fw_version == "2.0"
        assert fetch(offer["url"])[0] == 403  # the upgrade ended: its token with it
    finally:
        wire.close()


# --- AWS Jobs on the wire -----------------------------------------------------------------------------
def test_aws_queues_a_job_and_serves_start_next_and_updates_as_aws_iot_jobs(aws_cloud: LocalCloud) -> None:
    thing = "wire-thing"
    jobs = f"$aws/things/{thing}/jobs/"
    wire = WireDevice(aws_cloud, thing, jobs + "#")
    try:
        upgrade = aws_cloud.upgrade(thing, DATA, version="2.0")
        topic, notify = wire.take(lambda t, b: t.endswith("notify-next"))
        execution = notify["execution"]
        assert (execution["jobId"], execution["status"], execution["thingName"]) == (
            upgrade.task_id,
            "QUEUED",
            thing,
        )
        document = execution["jobDocument"]
        assert (document["operation"], document["version"], document["sha256"]) == (
            "ota",
            "2.0",
            hashlib.sha256(DATA).hexdigest(),
        )
        status, _, body = fetch(document["url"])
        assert status == 200 and hashlib.sha256(body).hexdigest() == document["sha256"]

        wire.publish(jobs + "start-next", {"clientToken": "t1"})
        topic, started = wire.take(lambda t, b: t.endswith("start-next/accepted"))
        assert started["clientToken"] == "t1" and started["execution"]["status"] == "IN_PROGRESS"
        assert started["execution"]["jobId"] == upgrade.task_id

        job = f"{jobs}{upgrade.task_id}/update"
        details = {"state": "downloading", "percent": "30"}
        wire.publish(job, {"status": "IN_PROGRESS", "statusDetails": details, "clientToken": "t2"})
        topic, accepted = wire.take(lambda t, b: "/update/" in t)
        assert topic == job + "/accepted" and accepted["clientToken"] == "t2"
        assert aws_cloud.get_upgrade(upgrade.task_id).describe() == "downloading 30%"
        done = {"state": "succeeded", "version": "2.0"}
        wire.publish(job, {"status": "SUCCEEDED", "statusDetails": done, "clientToken": "t3"})
        wire.take(lambda t, b: t == job + "/accepted")
        assert aws_cloud.wait_upgrade(upgrade.task_id, 5).state == "succeeded"

        wire.publish(job, {"status": "FAILED", "clientToken": "t4"})
        topic, rejected = wire.take(lambda t, b: "/update/" in t)
        assert topic == job + "/rejected" and rejected["code"] == "InvalidStateTransition"
        assert rejected["clientToken"] == "t4"
        wire.publish(f"{jobs}424242424242/update", {"status": "IN_PROGRESS", "clientToken": "t5"})
        topic, rejected = wire.take(lambda t, b: "/update/" in t)
        assert topic == f"{jobs}424242424242/update/rejected" and rejected["code"] == "ResourceNotFound"
        wire.publish(jobs + "start-next", {"clientToken": "t6"})
        _, idle = wire.take(lambda t, b: t.endswith("start-next/accepted"))
        assert "execution" not in idle and idle["clientToken"] == "t6"
    finally:
        wire.close()


# --- Huawei files, as the SDK moves them --------------------------------------------------------------
def test_huawei_files_go_up_and_down_through_the_urls_the_cloud_gives() -> None:
    with LocalCloud(vendor="huawei", port=0, http_port=0) as local:
        device_id = "files-1"
        up = f"$oc/devices/{device_id}/sys/events/up"
        wire = WireDevice(local, device_id, f"$oc/devices/{device_id}/sys/events/down")
        try:
            log_bytes = b"temperature log\n" * 2000
            attributes = {"hash_code": hashlib.sha256(log_bytes).hexdigest(), "size": len(log_bytes)}
            wire.publish(
                up,
                huawei_event(
                    "$file_manager", "get_upload_url", {"file_name": "t.log", "file_attributes": attributes}
                ),
            )
            _, body = wire.take(lambda t, b: huawei_paras(b, "get_upload_url_response") is not None)
            paras = huawei_paras(body, "get_upload_url_response")
            assert paras is not None and paras["object_name"] == "t.log" and paras["expire"] == 3600
            assert paras["file_attributes"] == attributes
            # the SDK's PUT: Content-Type text/plain and the URL's own Host
            headers = {"Content-Type": "text/plain", "Host": urlsplit(paras["url"]).netloc}
            status, _, _ = fetch(paras["url"], headers, method="PUT", data=log_bytes)
            assert status == 200 and local.file(device_id, "t.log") == log_bytes
            result = {"object_name": "t.log", "result_code": 0, "status_code": 200}
            wire.publish(up, huawei_event("$file_manager", "upload_result_report", result))
            eventually(lambda: bool(local.activity(device_id).files), what="the upload result")
            assert local.activity(device_id).files[0].code == 0

            settings = os.urandom(10_000)
            local.put_file(device_id, "settings.bin", settings)
            wire.publish(up, huawei_event("$file_manager", "get_download_url", {"file_name": "settings.bin"}))
            _, body = wire.take(lambda t, b: huawei_paras(b, "get_download_url_response") is not None)
            paras = huawei_paras(body, "get_download_url_response")
            assert paras is not None
            status, _, got = fetch(paras["url"], {"Content-Type": "text/plain"})
            assert status == 200 and got == settings
            assert "tmtok_***" in json.dumps([e.payload for e in local.feed.recent(device_id)])
        finally:
            wire.close()
