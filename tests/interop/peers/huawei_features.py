"""Huawei's Python device SDK (1.2.0) using its own system services, as a *device*.

Usage: huawei_features.py HOST PORT DEVICE_ID SECRET. Runs under the SDK's own venv with
PYTHONPATH pointing at ``shared/peers/huawei`` (the SDK is not on PyPI). The device uses the
SDK's services unchanged, written as its samples write them: ``TimeSyncService``,
``$sdk_info`` (``auto_report_device_info`` and ``report_device_info``), ``DeviceLogService``,
messages up and down, ``OTAService`` with an ``OTAListener`` that downloads the package with
``requests`` and the Bearer token, checks its SHA-256 against ``sign`` and reports progress, and
``FileManagerService`` with a ``FileManagerListener`` that PUTs and GETs the URLs it is given.

The test drives it through stdin, one JSON object a line (``{"do": "time_sync"}``, ...: see
``COMMANDS``); every callback and every command done prints one JSON line ``{"step": ...}`` on
stdout. ``{"do": "quit"}`` ends it with ``os._exit`` (its client reconnects after close()).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from iot_device_sdk_python.client.client_conf import ClientConf
from iot_device_sdk_python.client.connect_auth_info import ConnectAuthInfo
from iot_device_sdk_python.client.listener.device_message_listener import DeviceMessageListener
from iot_device_sdk_python.client.listener.raw_device_message_listener import RawDeviceMessageListener
from iot_device_sdk_python.client.request.device_base_info import DeviceBaseInfo
from iot_device_sdk_python.client.request.device_message import DeviceMessage
from iot_device_sdk_python.client.request.raw_device_message import RawDeviceMessage
from iot_device_sdk_python.filemanager.file_manager_listener import FileManagerListener
from iot_device_sdk_python.filemanager.url_info import UrlInfo
from iot_device_sdk_python.iot_device import IotDevice
from iot_device_sdk_python.ota.ota_listener import OTAListener
from iot_device_sdk_python.ota.ota_package_info import OTAPackageInfo
from iot_device_sdk_python.ota.ota_query_version import OTAQueryVersion
from iot_device_sdk_python.ota.ota_service import OTAService
from iot_device_sdk_python.timesync.time_sync_listener import TimeSyncListener
from iot_device_sdk_python.utils.iot_util import get_gmt_timestamp

host, port, device_id, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
lock = threading.Lock()
versions = {"fw": "1.0.0", "sw": "sw-1.0.0"}


def step(name: str, /, **facts: Any) -> None:
    with lock:
        print(json.dumps({"step": name, **facts}, default=repr), flush=True)


def guarded(what: str, run: Callable[[], None]) -> None:
    """Run ``run``; an exception is a ``failed`` step naming ``what`` (the test shows it)."""
    try:
        run()
    except Exception as exc:  # the test must see it, whatever it is
        step("failed", why=f"{what}: {type(exc).__name__}: {exc}")


auth = ConnectAuthInfo()
auth.server_uri = host
auth.port = 1883  # the SDK accepts only 1883 or 8883 here ...
auth.id = device_id
auth.secret = secret
auth.check_timestamp = "0"
auth.bs_mode = ConnectAuthInfo.BS_MODE_DIRECT_CONNECT
auth.reconnect_on_failure = False
auth.auto_report_device_info = True  # the SDK sends $sdk_info itself once connected
device = IotDevice(ClientConf(auth))
auth.port = port  # ... and reads it again when it connects
client = device.get_client()
ota = device.get_ota_service()
files = device.get_file_manager_service()
logs = device.get_device_log_service()
clock = device.get_time_sync_service()


class Clock(TimeSyncListener):
    def on_time_sync_response(
        self, device_send_time: int, server_recv_time: int, server_send_time: int
    ) -> None:
        received = get_gmt_timestamp()
        # the SDK's sample: device time = (server_recv + server_send + device_recv - device_send) / 2
        now = (server_recv_time + server_send_time + received - device_send_time) / 2
        step(
            "time_sync",
            device_send_time=device_send_time,
            server_recv_time=server_recv_time,
            server_send_time=server_send_time,
            device_recv_time=received,
            offset_ms=now - received,
        )


class RawMessages(RawDeviceMessageListener):
    def on_raw_device_message(self, message: RawDeviceMessage) -> None:
        step("raw_message", payload_hex=bytes(message.payload).hex())


class Messages(DeviceMessageListener):
    def on_device_message(self, message: DeviceMessage) -> None:
        step("device_message", **message.to_dict())


class Upgrades(OTAListener):
    """The SDK's OTA sample, with the download on a thread of its own (the SDK calls this on
    paho's network thread: ota_service.py passes the listener's result to Thread())."""

    def on_query_version(self, queryInfo: OTAQueryVersion) -> None:
        step("version_query", paras=queryInfo.to_dict())
        ota.report_version(fw_version=versions["fw"], sw_version=versions["sw"])

    def on_receive_package_info(self, pkg: Any) -> None:
        step("package", info_class=type(pkg).__name__, paras=pkg.to_dict())
        if pkg.version == versions["fw"]:  # the sample's pre_check: refuse with the SDK's own code
            reason = f"already at version {pkg.version}"
            ota.report_ota_status(OTAService.OTA_CODE_NO_NEED, versions["fw"], description=reason)
            step("refused", version=pkg.version)
            return
        threading.Thread(target=guarded, args=("upgrade", lambda: self._upgrade(pkg)), daemon=True).start()

    def _upgrade(self, pkg: Any) -> None:
        headers = {"Authorization": "Bearer " + pkg.access_token} if isinstance(pkg, OTAPackageInfo) else {}
        response = requests.get(pkg.url, headers=headers, stream=True, timeout=10)
        if response.status_code != 200:
            step("download_refused", status=response.status_code, body=response.text[:300])
            ota.report_ota_status(
                OTAService.OTA_CODE_DOWNLOAD_TIMEOUT,
                versions["fw"],
                description=f"HTTP {response.status_code}",
            )
            return
        total = int(response.headers["content-length"])
        digest, got, reported = hashlib.sha256(), 0, 0
        for chunk in response.iter_content(chunk_size=4096):
            digest.update(chunk)
            got += len(chunk)
            percent = got * 90 // total
            if percent >= reported + 30:  # a few progress reports on the way
                reported = percent
                ota.report_ota_status(OTAService.OTA_CODE_SUCCESS, pkg.version, progress=percent)
        sha256 = digest.hexdigest()
        step("downloaded_package", size=got, content_length=total, sha256=sha256, sign=pkg.sign)
        if got != total or sha256 != pkg.sign:
            ota.report_ota_status(
                OTAService.OTA_CODE_CHECK_FAIL, versions["fw"], description="sha256 mismatch"
            )
            step("verify_failed", sha256=sha256, sign=pkg.sign)
            return
        versions["fw"] = pkg.version  # "installed"
        # progress 100 with the new version (the SDK's sample: IoTDA takes another version as failed)
        ota.report_ota_status(OTAService.OTA_CODE_SUCCESS, pkg.version, 100, "upgrade success")
        step("upgraded", version=pkg.version)


class Files(FileManagerListener):
    """The SDK's file sample: PUT / GET the URL, then report the result."""

    def on_upload_url(self, url_info: UrlInfo) -> None:
        step("upload_url", paras=url_info.to_dict())
        guarded("upload", lambda: self._upload(url_info))

    def on_download_url(self, url_info: UrlInfo) -> None:
        step("download_url", paras=url_info.to_dict())
        guarded("download", lambda: self._download(url_info))

    def _upload(self, url_info: UrlInfo) -> None:
        path = files.upload_file_dict[url_info.object_name]
        with open(path, "rb") as source:
            data = source.read()
        response = requests.put(url_info.url, data=data, headers={"Content-Type": "text/plain"}, timeout=10)
        code = 0 if response.status_code == requests.codes.ok else 1
        files.report_upload_result(url_info.object_name, code, response.status_code)
        step("uploaded", object_name=url_info.object_name, status=response.status_code, size=len(data))

    def _download(self, url_info: UrlInfo) -> None:
        path = files.download_file_dict[url_info.object_name]
        response = requests.get(url_info.url, headers={"Content-Type": "text/plain"}, timeout=10)
        with open(path, "wb") as sink:
            sink.write(response.content)
        code = 0 if response.status_code == requests.codes.ok else 1
        files.report_download_result(url_info.object_name, code, response.status_code)
        step(
            "downloaded",
            object_name=url_info.object_name,
            status=response.status_code,
            content_hex=response.content.hex(),
        )


def log_state() -> dict[str, Any]:
    """What the SDK's DeviceLogService holds (set by the cloud's ``log_config``)."""
    state: dict[str, Any] = {"switch": logs.log_switch, "end_time": logs.end_time}
    try:
        state["can_report"] = logs.can_report_log()
    except Exception as exc:  # the SDK's own check fails on an end_time it cannot read
        state["can_report"] = None
        state["error"] = f"{type(exc).__name__}: {exc}"
    return state


def watch_log_config() -> None:
    """One ``log_state`` step each time the cloud's ``log_config`` changes the service."""
    seen: tuple[Any, Any] | None = None
    while True:
        now = (logs.log_switch, logs.end_time)
        if now != seen:
            seen = now
            step("log_state", **log_state())
        time.sleep(0.01)


def do_info(order: dict[str, Any]) -> None:
    info = DeviceBaseInfo()
    info.fw_version, info.sw_version = order["fw"], order["sw"]
    client.report_device_info(info)


def do_log(order: dict[str, Any]) -> None:
    state = log_state()
    if state["can_report"]:  # as a device using the service does: only while switched on
        logs.report_device_log(str(get_gmt_timestamp()), order["type"], order["content"])
    step("log", sent=bool(state["can_report"]), **state)


def do_message(order: dict[str, Any]) -> None:
    message = DeviceMessage()
    message.name, message.id, message.content = order.get("name", ""), order.get("id", ""), order["content"]
    client.report_device_message(message)


def do_quit(order: dict[str, Any]) -> None:
    step("done")
    sys.stdout.flush()
    os._exit(0)


COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "time_sync": lambda order: clock.request_time_sync(),
    "info": do_info,
    "log": do_log,
    "message": do_message,
    "version": lambda order: ota.report_version(fw_version=versions["fw"], sw_version=versions["sw"]),
    "upload": lambda order: files.upload_file(order["name"], order["path"]),
    "download": lambda order: files.download_file(order["name"], order["path"]),
    "quit": do_quit,
}

clock.set_listener(Clock())
client.set_raw_device_msg_listener(RawMessages())
client.set_device_msg_listener(Messages())
ota.set_ota_listener(Upgrades())
files.set_listener(Files())
if device.connect() != 0:
    step("connect_failed")
    os._exit(3)
threading.Thread(target=watch_log_config, daemon=True).start()
step("ready")


def obey(order: dict[str, Any]) -> None:
    guarded(order["do"], lambda: COMMANDS[order["do"]](order))
    step("did", do=order["do"])


for line in sys.stdin:
    if line.strip():
        obey(json.loads(line))
do_quit({})
