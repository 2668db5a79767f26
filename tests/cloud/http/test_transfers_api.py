"""The HTTP side of OTA and files on a live local cloud (Huawei): the package download a device
makes (token, Range, 401/403/404/416), the device file URLs, and thingmodel's API for upgrades,
packages and files. A device is played by hand over MQTT (tests/cloud/wire.py)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud
from thingmodel.cloud.client import ApiError, CloudClient
from thingmodel.cloud.http import AppKey
from thingmodel.errors import InvalidValue

from ..wire import WireDevice, fetch, huawei_event, huawei_paras

pytestmark = pytest.mark.broker

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
EVENTS_DOWN = "$oc/devices/{}/sys/events/down"
EVENTS_UP = "$oc/devices/{}/sys/events/up"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=0, http_port=0) as local:
        yield local


_NUMBERS = itertools.count(1)


@pytest.fixture
def device(cloud: LocalCloud) -> Iterator[WireDevice]:
    device_id = f"tr-{next(_NUMBERS)}"
    wire = WireDevice(cloud, device_id, EVENTS_DOWN.format(device_id))
    wire.device_id = device_id  # type: ignore[attr-defined]
    yield wire
    wire.close()


def start(
    cloud: LocalCloud, wire: WireDevice, data: bytes = DATA, version: str = "2.0"
) -> tuple[Any, dict[str, Any]]:
    """Upgrade the hand-played device; the upgrade and the offer's paras as it received them."""
    device_id = wire.device_id  # type: ignore[attr-defined]
    upgrade = cloud.upgrade(device_id, data, version=version)
    _, body = wire.take(lambda t, b: huawei_paras(b, "firmware_upgrade") is not None)
    paras = huawei_paras(body, "firmware_upgrade")
    assert paras is not None
    return upgrade, paras


def report(wire: WireDevice, **paras: Any) -> None:
    wire.publish(EVENTS_UP.format(wire.device_id), huawei_event("$ota", "upgrade_progress_report", paras))  # type: ignore[attr-defined]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the package download -----------------------------------------------------------------------------
def test_the_offered_url_serves_the_exact_package_with_the_bearer_token(
    cloud: LocalCloud, device: WireDevice
) -> None:
    _, paras = start(cloud, device)
    assert paras["url"].startswith(f"{cloud.http_url}/thingmodel/v1/packages/") and "?" not in paras["url"]
    assert (paras["file_size"], paras["sign"], paras["version"]) == (len(DATA), SHA, "2.0")
    status, headers, body = fetch(paras["url"], bearer(paras["access_token"]))
    assert status == 200 and body == DATA and hashlib.sha256(body).hexdigest() == paras["sign"]
    assert headers["content-length"] == str(len(DATA)) and headers["accept-ranges"] == "bytes"
    assert headers["etag"] == f'"{SHA}"' and headers["content-type"] == "application/octet-stream"
    status, _, body = fetch(paras["url"] + "?token=" + paras["access_token"])  # the query form too
    assert status == 200 and body == DATA


@pytest.mark.parametrize(
    ("header", "status", "content_range", "part"),
    [
        ("bytes=0-99", 206, "bytes 0-99/300000", slice(0, 100)),
        ("bytes=299990-", 206, "bytes 299990-299999/300000", slice(299990, None)),
        ("bytes=-10", 206, "bytes 299990-299999/300000", slice(-10, None)),
        ("bytes=1000-999999999", 206, "bytes 1000-299999/300000", slice(1000, None)),
        ("bytes=0-1,5-6", 200, None, slice(None)),
        ("items=0-1", 200, None, slice(None)),
    ],
)
def test_a_range_request_gets_that_range(
    cloud: LocalCloud, device: WireDevice, header: str, status: int, content_range: str | None, part: slice
) -> None:
    _, paras = start(cloud, device)
    got, headers, body = fetch(paras["url"], {**bearer(paras["access_token"]), "Range": header})
    assert got == status and body == DATA[part]
    assert headers.get("content-range") == content_range and headers["content-length"] == str(len(body))


def test_a_range_past_the_end_is_416_and_a_stale_if_range_gets_the_whole_file(
    cloud: LocalCloud, device: WireDevice
) -> None:
    _, paras = start(cloud, device)
    auth = bearer(paras["access_token"])
    status, headers, _ = fetch(paras["url"], {**auth, "Range": f"bytes={len(DATA)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(DATA)}"
    status, _, body = fetch(paras["url"], {**auth, "Range": "bytes=0-9", "If-Range": '"older"'})
    assert status == 200 and body == DATA
    status, _, body = fetch(paras["url"], {**auth, "Range": "bytes=0-9", "If-Range": f'"{SHA}"'})
    assert status == 206 and body == DATA[:10]
    status, headers, body = fetch(paras["url"], auth, method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(DATA))


def test_a_download_resumed_in_pieces_hashes_to_the_sign(cloud: LocalCloud, device: WireDevice) -> None:
    _, paras = start(cloud, device)
    pieces = b""
    while len(pieces) < len(DATA):
        end = min(len(pieces) + 65_536, len(DATA)) - 1
        status, _, body = fetch(
            paras["url"], {**bearer(paras["access_token"]), "Range": f"bytes={len(pieces)}-{end}"}
        )
        assert status == 206
        pieces += body
    assert hashlib.sha256(pieces).hexdigest() == paras["sign"]


def test_no_token_is_401_a_wrong_one_403_and_an_unknown_package_404(
    cloud: LocalCloud, device: WireDevice
) -> None:
    _, paras = start(cloud, device)
    status, headers, body = fetch(paras["url"])
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert json.loads(body)["error"]["code"] == "Unauthorized"
    status, _, body = fetch(paras["url"], bearer("tmtok_" + "x" * 32))
    assert status == 403 and "not good for this package" in json.loads(body)["error"]["message"]
    base = paras["url"].rsplit("/", 2)[0]
    assert fetch(base + "/0123456789abcdef/fw.bin", bearer(paras["access_token"]))[0] == 404
    assert fetch(paras["url"].rsplit("/", 1)[0] + "/other.bin", bearer(paras["access_token"]))[0] == 404


def test_the_token_is_good_for_its_own_package_only(cloud: LocalCloud, device: WireDevice) -> None:
    _, paras = start(cloud, device)
    other = cloud.packages.add(b"other package", version="9")
    url = f"{cloud.http_url}/thingmodel/v1/packages/{other.id}/{other.name}"
    assert fetch(url, bearer(paras["access_token"]))[0] == 403


def test_the_token_stops_working_when_the_upgrade_ends(cloud: LocalCloud, device: WireDevice) -> None:
    upgrade, paras = start(cloud, device)
    report(device, result_code=0, progress=100, version="2.0")
    done = cloud.wait_upgrade(upgrade.task_id, 5)
    assert done.state == "succeeded"
    assert fetch(paras["url"], bearer(paras["access_token"]))[0] == 403


def test_tokens_are_neither_logged_nor_in_the_feed(
    cloud: LocalCloud, device: WireDevice, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        upgrade, paras = start(cloud, device)
        fetch(paras["url"], bearer(paras["access_token"]))
        report(device, result_code=0, progress=100, version="2.0")
        cloud.wait_upgrade(upgrade.task_id, 5)
    token = paras["access_token"]
    assert token.startswith("tmtok_") and token not in caplog.text
    offers = [e for e in cloud.feed.recent(device.device_id) if "firmware_upgrade" in e.payload]  # type: ignore[attr-defined]
    assert offers and all(token not in e.payload and "tmtok_***" in e.payload for e in offers)


# --- without an HTTP server, and with an app key ------------------------------------------------------
def test_an_upgrade_without_an_http_server_says_to_start_one() -> None:
    with LocalCloud(vendor="huawei", port=0) as local:
        with pytest.raises(InvalidValue, match=r"start the LocalCloud with http_port=0"):
            local.upgrade("anyone", b"x", version="1")
        assert local.packages.packages() == []


def test_with_an_app_key_the_api_needs_it_but_a_device_downloads_with_its_token() -> None:
    key = AppKey("app", "s3cret")
    with LocalCloud(vendor="huawei", port=0, http_port=0, app_key=key) as local:
        wire = WireDevice(local, "keyed-1", EVENTS_DOWN.format("keyed-1"))
        wire.device_id = "keyed-1"  # type: ignore[attr-defined]
        try:
            status, _, _ = fetch(f"{local.http_url}/thingmodel/v1/devices/keyed-1/upgrades")
            assert status == 401
            _, paras = start(local, wire)
            status, _, body = fetch(paras["url"], bearer(paras["access_token"]))
            assert status == 200 and body == DATA
            basic = base64.b64encode(b"app:s3cret").decode()
            status, _, body = fetch(
                f"{local.http_url}/thingmodel/v1/devices/keyed-1/upgrades",
                {"Authorization": f"Basic {basic}"},
            )
            assert status == 200 and json.loads(body)["upgrades"][0]["state"] == "pending"
        finally:
            wire.close()


# --- thingmodel's API -----------------------------------------------------------------------------------
@pytest.fixture
def api(cloud: LocalCloud) -> CloudClient:
    assert cloud.http_url is not None
    return CloudClient(cloud.http_url)


def test_posting_a_package_starts_an_upgrade_and_the_long_poll_follows_it(
    cloud: LocalCloud, device: WireDevice, api: CloudClient, tmp_path: Path
) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]
    source = tmp_path / "fw 2.0.bin"
    source.write_bytes(DATA)
    answer = api.upgrade(device_id, source, version="2.0", kind="firmware")
    upgrade, package = answer["upgrade"], answer["package"]
    assert (upgrade["state"], upgrade["version"], upgrade["terminal"]) == ("pending", "2.0", False)
    assert (package["name"], package["size"], package["sha256"]) == ("fw_2.0.bin", len(DATA), SHA)
    paras = huawei_paras(
        device.take(lambda t, b: huawei_paras(b, "firmware_upgrade") is not None)[1], "firmware_upgrade"
    )
    assert paras is not None and paras["sign"] == SHA

    def progress() -> None:
        time.sleep(0.2)
        report(device, result_code=0, progress=40, version="2.0")

    threading.Thread(target=progress).start()
    began = time.monotonic()
    moved = api.get_upgrade(device_id, upgrade["task_id"], wait=10, after=upgrade["revision"])
    assert (moved["state"], moved["percent"]) == ("downloading", 40) and time.monotonic() - began < 5
    listed = api.upgrades(device_id)
    assert [u["task_id"] for u in listed["upgrades"]][-1] == upgrade["task_id"]
    shown = api.get(f"/devices/{device_id}")
    assert shown["upgrade"]["task_id"] == upgrade["task_id"]
    cancelled = api.cancel_upgrade(device_id, upgrade["task_id"])
    assert (cancelled["state"], cancelled["failure"]) == ("failed", "cancelled")


def test_the_api_refuses_each_bad_upgrade_with_its_status(
    cloud: LocalCloud, device: WireDevice, api: CloudClient
) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]
    cases: list[tuple[dict[str, Any], str, int, str]] = [
        ({"version": None}, device_id, 400, "give ?version="),
        ({"version": "1", "kind": "bios"}, device_id, 400, "firmware or software"),
        ({"version": "1"}, "nobody-here", 404, "not known to this cloud"),
    ]
    for query, target, status, text in cases:
        path = f"/thingmodel/v1/devices/{target}/upgrades?" + "&".join(
            f"{k}={v}" for k, v in query.items() if v
        )
        got, _, body = fetch(f"{cloud.http_url}{path}", method="POST", data=os.urandom(2_000_000))
        assert got == status, body
        assert text in json.loads(body)["error"]["message"]
    cloud.upgrade(device_id, b"first", version="1")
    with pytest.raises(ApiError) as running:
        api.upgrade(device_id, DATA, version="2")
    assert running.value.status == 409 and running.value.code == "UpgradeRunning"


def test_an_offline_device_is_409(cloud: LocalCloud, api: CloudClient) -> None:
    gone = WireDevice(cloud, "tr-gone")
    gone.close()
    deadline = time.monotonic() + 5
    while cloud.presence.is_online("tr-gone") is not False:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(ApiError) as offline:
        api.upgrade("tr-gone", b"x", version="1")
    assert (offline.value.status, offline.value.code) == (409, "DeviceOffline")


def test_packages_can_be_stored_and_listed_and_an_upgrade_can_name_one(
    cloud: LocalCloud, device: WireDevice, api: CloudClient
) -> None:
    status, _, body = fetch(
        f"{cloud.http_url}/thingmodel/v1/packages?version=7.0&name=img.bin", method="POST", data=b"IMG"
    )
    assert status == 201
    package = json.loads(body)["package"]
    assert package["sha256"] == hashlib.sha256(b"IMG").hexdigest()
    assert package["id"] in [p["id"] for p in api.get("/packages")["packages"]]
    device_id = device.device_id  # type: ignore[attr-defined]
    status, _, body = fetch(
        f"{cloud.http_url}/thingmodel/v1/devices/{device_id}/upgrades?package_id={package['id']}",
        method="POST",
        data=b"",
    )
    assert status == 202 and json.loads(body)["upgrade"]["version"] == "7.0"


def test_the_version_query_of_the_api_returns_what_the_device_reports(
    cloud: LocalCloud, device: WireDevice, api: CloudClient
) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]

    def answer() -> None:
        device.take(lambda t, b: huawei_paras(b, "version_query") is not None)
        device.publish(
            EVENTS_UP.format(device_id), huawei_event("$ota", "version_report", {"fw_version": "1.5"})
        )

    threading.Thread(target=answer).start()
    assert api.post(f"/devices/{device_id}/versions/query", {"timeout": 5}, wait=5) == {
        "fw_version": "1.5",
        "sw_version": None,
    }
    assert api.get(f"/devices/{device_id}")["device"]["fw_version"] == "1.5"


# --- files ----------------------------------------------------------------------------------------------
def test_the_api_puts_gets_and_lists_a_devices_files(
    cloud: LocalCloud, device: WireDevice, api: CloudClient
) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]
    data = os.urandom(100_000)
    stored = api.put_file(device_id, "cfg/settings.bin", data)
    assert (stored["name"], stored["size"], stored["source"]) == ("cfg/settings.bin", len(data), "cloud")
    assert api.file(device_id, "cfg/settings.bin") == data
    assert [f["name"] for f in api.files(device_id)["files"]] == ["cfg/settings.bin"]
    with pytest.raises(ApiError) as missing:
        api.file(device_id, "nothing.txt")
    assert missing.value.status == 404


def file_url(wire: WireDevice, direction: str, name: str) -> str:
    device_id = wire.device_id  # type: ignore[attr-defined]
    wire.publish(
        EVENTS_UP.format(device_id),
        huawei_event("$file_manager", f"get_{direction}_url", {"file_name": name}),
    )
    _, body = wire.take(lambda t, b: huawei_paras(b, f"get_{direction}_url_response") is not None)
    paras = huawei_paras(body, f"get_{direction}_url_response")
    assert paras is not None and paras["object_name"] == name
    url: str = paras["url"]
    return url


def test_a_device_uploads_to_its_url_and_downloads_what_was_put_with_a_range(
    cloud: LocalCloud, device: WireDevice
) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]
    upload = file_url(device, "upload", "logs/boot.log")
    assert upload.startswith(f"{cloud.http_url}/thingmodel/v1/files/{device_id}/logs/boot.log?token=tmtok_")
    log = b"booted\n" * 1000
    status, headers, _ = fetch(upload, {"Content-Type": "text/plain"}, method="PUT", data=log)
    assert status == 200 and headers["etag"] == f'"{hashlib.sha256(log).hexdigest()}"'
    assert cloud.file(device_id, "logs/boot.log") == b"booted\n" * 1000
    assert cloud.files(device_id) == ["logs/boot.log"]
    assert fetch(upload)[0] == 403  # an upload token does not download
    data = os.urandom(50_000)
    cloud.put_file(device_id, "fw/cfg.bin", data)
    download = file_url(device, "download", "fw/cfg.bin")
    status, _, body = fetch(download)
    assert status == 200 and body == data
    status, _, body = fetch(download, {"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert fetch(download, method="PUT", data=b"overwrite")[0] == 403
    assert fetch(download.split("?")[0])[0] == 401
    assert fetch(download.split("?")[0] + "?token=tmtok_nope")[0] == 403


def test_a_device_upload_over_the_limit_is_413_and_nothing_is_kept(
    cloud: LocalCloud, device: WireDevice
) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]
    upload = file_url(device, "upload", "huge.bin")
    limit = cloud.file_store.max_file_bytes
    cloud.file_store.max_file_bytes = 1000
    try:
        status, _, body = fetch(upload, method="PUT", data=b"x" * 1001)
    finally:
        cloud.file_store.max_file_bytes = limit
    assert status == 413 and json.loads(body)["error"]["code"] == "TooLarge"
    assert cloud.file(device_id, "huge.bin") is None


def test_the_console_shows_the_versions_and_each_upgrade(cloud: LocalCloud, device: WireDevice) -> None:
    device_id = device.device_id  # type: ignore[attr-defined]
    device.publish(
        EVENTS_UP.format(device_id), huawei_event("$ota", "version_report", {"fw_version": "1.0<b>"})
    )
    upgrade, _ = start(cloud, device)
    report(device, result_code=0, progress=60, version="2.0")
    cloud.next_upgrade_change(upgrade.task_id, 0, 5)
    with urllib.request.urlopen(f"{cloud.http_url}/devices/{device_id}", timeout=5) as response:
        page = response.read().decode()
    assert 'id="fw-version" class="mono">1.0&lt;b&gt;</dd>' in page
    row = page[page.index(f'data-task-id="{upgrade.task_id}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-state="downloading"' in row and '<progress max="100" value="60"' in row and "60%" in row
    with urllib.request.urlopen(f"{cloud.http_url}/", timeout=5) as response:
        home = response.read().decode()
    line = home[home.index(f'data-device-id="{device_id}"') :]
    assert "to 2.0: downloading 60%" in line[: line.index("</tr>")]
