"""The local cloud's application APIs over HTTP, next to the same call made in process.

    python benchmarks/app_api.py            # about 40 s on a 2-core machine
    python benchmarks/app_api.py --quick    # about 10 s: a smoke run
    python benchmarks/app_api.py --vendors huawei,aws --reads 1000

For each vendor a ``LocalCloud(port=0, http_port=0)`` (embedded broker, uvicorn) with a
thingmodel ``Device`` connected over MQTT in this process: one service, a writable property with
a setter, a command. Three operations, each timed request -> answer:

1. the shadow read: ``cloud.get_shadow`` vs the vendor's read (GetThingShadow, ShowDeviceShadow,
   DescribeDeviceData, DescribeDeviceShadow) and ``GET /thingmodel/v1/devices/{id}``;
2. a desired write the device applies: ``cloud.set_desired`` (which returns with the device's
   answer; for AWS, with its reported update) vs the vendor's write and ``POST .../desired``.
   UpdateProperties and ControlDeviceData wait for the device as set_desired does;
   UpdateThingShadow and UpdateDeviceShadow answer at once, so they have two rows: the answer,
   and the answer then the shadow read again every POLL seconds until the device's reported
   value is in it (what an application of those APIs does to know the write was applied);
3. a command and its result: ``cloud.send_command`` vs CreateCommand, CallDeviceActionSync,
   AWS IoT's StartCommandExecution then GetCommandExecution every POLL seconds until it is no
   longer CREATED, and ``POST .../commands``; IoT Hub's API has no command call.

Samples of one operation are interleaved (direct, HTTP, HTTP, ...; _common.interleaved), so a
machine whose speed drifts shows the same drift to all, and each ratio is to the direct call's
p50 in the same run. After every write the next sample waits, untimed, until the device's
report is in the shadow. Every answer is checked (status, and that the device's value or result
is in it).

HTTP: one kept-alive HTTP/1.1 connection per API (``http.client``, TCP_NODELAY), opened before
timing, so connection setup is not measured; requests are unsigned unless the row says signed.
The signed rows are the same read against a second cloud of the vendor that has an app key:
each request signed as the vendor's SDK signs it (SigV4, SDK-HMAC-SHA256, TC3-HMAC-SHA256, with
the dialect modules' own signing functions) before its timer starts, so the difference from the
unsigned row is the server's verification. The client, server, broker and device share this
process (and its GIL): the figures are what one application sees on one machine.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import logging
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from _common import interleaved, percentile

from thingmodel import Property, Service, command
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.http import AppKey, aws_sigv4, huawei_aksk, tencent_tc3
from thingmodel.cloud.http import tencent as tencent_http
from thingmodel.device import Device

VENDORS = ("aws", "huawei", "tencent-explorer", "tencent-hub")
SERVICE = "smokeDetector"
PID = "BENCHPID01"  # the Tencent product
KEY = AppKey("AKIDBENCHMARKKEY", "benchmark-app-secret")
REGION = "eu-central-1"
PROJECT = "bench-project"
POLL = 0.001
"""Seconds between the reads of a row that polls until the device's value shows."""
SETTLE = 5.0
"""Seconds a write may take to reach the shadow before the run fails."""
JSON = {"content-type": "application/json"}
TC_VERSIONS = {"tencent-explorer": "2019-04-23", "tencent-hub": "2021-04-08"}

Row = dict[str, Any]
Probe = Callable[[int], float]


class Detector(Service):
    """The benchmark's device: a writable property with a setter, and a command."""

    service_id = SERVICE
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    temperature = Property(float, default=20.0)

    def __init__(self) -> None:
        self.set_calls = 0
        self.rings = 0

    def set_alarm(self, value: int) -> None:
        self.set_calls += 1

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        self.rings += 1
        return {"rang": duration}


def reported_alarm(shadow: Mapping[str, Mapping[str, Any]]) -> int | None:
    """The reported ``alarm`` of a ``get_shadow`` result, whatever the section is keyed by (an
    AWS device of one service uses the classic shadow, ``$classic``; Tencent's is the product)."""
    for section in shadow.values():
        if "alarm" in section["reported"]:
            value: int = section["reported"]["alarm"]
            return value
    return None


class Http:
    """One kept-alive HTTP/1.1 connection to a cloud's HTTP side."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.host = parts.netloc
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.reconnects = -1
        self.ensure_open()

    def ensure_open(self) -> None:
        """Reconnect, untimed, if the server closed the idle connection (http.client would
        otherwise reconnect inside the next timed request)."""
        if self.conn.sock is None:
            self.conn.connect()
            sock = cast(socket.socket, self.conn.sock)  # connect() set it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.reconnects += 1

    def send(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[float, Any]:
        """Seconds from sending the request to having read the whole answer, and the answer's
        JSON; RuntimeError for a status other than 2xx."""
        self.ensure_open()
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=dict(headers or {}))
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {data[:300]!r}")
        return elapsed, json.loads(data)

    def close(self) -> None:
        self.conn.close()


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def aws_signed(key: AppKey, host: str, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
    """SigV4 headers for the data plane (service ``iotdata``), as botocore signs them."""
    now = time.gmtime()
    amz_date, date = time.strftime("%Y%m%dT%H%M%SZ", now), time.strftime("%Y%m%d", now)
    headers = {"host": host, "x-amz-content-sha256": _sha256(body), "x-amz-date": amz_date}
    names = sorted(headers)
    canonical = aws_sigv4.canonical_request(
        method, path, query, list(headers.items()), names, headers["x-amz-content-sha256"]
    )
    scope = f"{date}/{REGION}/iotdata/aws4_request"
    signature = aws_sigv4.sign(
        key.secret, date, REGION, "iotdata", aws_sigv4.string_to_sign(amz_date, scope, canonical)
    )
    headers["authorization"] = (
        f"{aws_sigv4.ALGORITHM} Credential={key.id}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return headers


def huawei_signed(key: AppKey, host: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """SDK-HMAC-SHA256 headers, as huaweicloudsdkcore signs them."""
    headers = {
        "content-type": "application/json",
        "host": host,
        "x-sdk-date": huawei_aksk.sdk_date(time.time()),
    }
    headers["authorization"] = huawei_aksk.authorization(key, method, path, "", headers, body)
    return headers


def tencent_headers(vendor: str, action: str, host: str, body: bytes, key: AppKey | None) -> dict[str, str]:
    """Tencent Cloud API 3.0 headers for ``action``, TC3-HMAC-SHA256 signed when ``key`` is given."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "host": host,
        "x-tc-action": action,
        "x-tc-version": TC_VERSIONS[vendor],
        "x-tc-timestamp": str(timestamp),
        "x-tc-region": "ap-guangzhou",
    }
    if key is not None:
        service = tencent_http.PRODUCTS[vendor].service
        headers["authorization"] = tencent_tc3.sign_request(key, service, timestamp, headers, body)
    return headers


class Rig:
    """One vendor's cloud (and a second one with an app key), a device on each, and kept-alive
    connections to both."""

    def __init__(self, vendor: str, stack: ExitStack) -> None:
        self.vendor = vendor
        tencent = vendor.startswith("tencent")
        self.device_id = f"{PID}.bench" if tencent else "bench-device"
        self.name = "bench"  # Tencent's DeviceName
        self.key = PID if tencent else SERVICE  # the service_id the calls name
        self.detector = Detector()
        self.cloud = self._start(stack, None, self.detector)
        self.signed_cloud = self._start(stack, KEY, Detector())
        self.vendor_http = self._http(stack, self.cloud)
        self.native_http = self._http(stack, self.cloud)
        self.signed_http = self._http(stack, self.signed_cloud)
        first = self.reported()
        assert first is not None
        self.value = first

    def _start(self, stack: ExitStack, key: AppKey | None, service: Service) -> LocalCloud:
        cloud = stack.enter_context(LocalCloud(vendor=self.vendor, port=0, http_port=0, app_key=key))
        device = stack.enter_context(
            Device([service], device_id=self.device_id, vendor=self.vendor, broker=cloud.url)
        )
        device.report()
        deadline = time.monotonic() + 10
        while reported_alarm(cloud.get_shadow(self.device_id)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.vendor}: the device's first report never reached the shadow")
            time.sleep(0.01)
        return cloud

    @staticmethod
    def _http(stack: ExitStack, cloud: LocalCloud) -> Http:
        assert cloud.http_url is not None
        client = Http(cloud.http_url)
        stack.callback(client.close)
        return client

    def reported(self) -> int | None:
        return reported_alarm(self.cloud.get_shadow(self.device_id))

    def next_value(self) -> int:
        return 1 - self.value

    def settle(self, value: int) -> None:
        """Wait (untimed) until the device's report of ``value`` is in the shadow."""
        deadline = time.monotonic() + SETTLE
        while self.reported() != value:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.vendor}: alarm={value} never reached the reported shadow")
            time.sleep(0.0002)
        # a device may follow its report with more (clearing desired bumps the version): wait
        # until the shadow holds still, so the next sample does not race the last one's tail
        before = self.cloud.get_shadow(self.device_id)
        while True:
            time.sleep(0.01)
            now = self.cloud.get_shadow(self.device_id)
            if now == before or time.monotonic() > deadline:
                break
            before = now
        self.value = value

    # -- the thingmodel API ------------------------------------------------------------------------
    def native_path(self, tail: str = "") -> str:
        return f"/thingmodel/v1/devices/{urllib.parse.quote(self.device_id)}{tail}"

    def native_read(self, i: int) -> float:
        elapsed, answer = self.native_http.send("GET", self.native_path())
        if reported_alarm(answer["services"]) is None:
            raise RuntimeError(f"GET {self.native_path()}: no reported alarm in {answer}")
        return elapsed

    def native_write(self, i: int) -> float:
        value = self.next_value()
        body = json.dumps({"service_id": self.key, "properties": {"alarm": value}}).encode()
        elapsed, answer = self.native_http.send("POST", self.native_path("/desired"), body, JSON)
        if not answer["ok"] or answer["pending"]:
            raise RuntimeError(f"POST {self.native_path('/desired')}: {answer}")
        self.settle(value)
        return elapsed

    def native_command(self, i: int) -> float:
        body = json.dumps({"service_id": self.key, "name": "ringAlarm", "params": {"duration": 1}}).encode()
        elapsed, answer = self.native_http.send("POST", self.native_path("/commands"), body, JSON)
        if not answer["ok"] or str(answer["params"].get("rang")) != "1":
            raise RuntimeError(f"POST {self.native_path('/commands')}: {answer}")
        return elapsed

    # -- direct, in process ----------------------------------------------------------------------
    def direct_read(self, i: int) -> float:
        start = time.perf_counter()
        shadow = self.cloud.get_shadow(self.device_id)
        elapsed = time.perf_counter() - start
        if reported_alarm(shadow) is None:
            raise RuntimeError(f"get_shadow: no reported alarm in {shadow}")
        return elapsed

    def direct_write(self, i: int) -> float:
        value = self.next_value()
        start = time.perf_counter()
        outcome = self.cloud.set_desired(self.device_id, self.key, {"alarm": value})
        elapsed = time.perf_counter() - start
        if not outcome.ok or outcome.pending:
            raise RuntimeError(f"set_desired: {outcome}")
        self.settle(value)
        return elapsed

    def direct_command(self, i: int) -> float:
        start = time.perf_counter()
        outcome = self.cloud.send_command(self.device_id, self.key, "ringAlarm", {"duration": 1})
        elapsed = time.perf_counter() - start
        if not outcome.ok or str(outcome.params.get("rang")) != "1":
            raise RuntimeError(f"send_command: {outcome}")
        return elapsed


@contextmanager
def rig(vendor: str) -> Iterator[Rig]:
    with ExitStack() as stack:
        yield Rig(vendor, stack)


# --- the vendors' APIs ---------------------------------------------------------------------------
class VendorApi:
    """One vendor's read, write and command over HTTP, as probes: ``(label, request, probe)``."""

    def __init__(self, r: Rig) -> None:
        self.r = r

    def reads(self) -> list[tuple[str, str, Probe]]:
        raise NotImplementedError

    def writes(self) -> list[tuple[str, str, Probe]]:
        raise NotImplementedError

    def commands(self) -> list[tuple[str, str, Probe]]:
        return []

    def poll_until_reported(self, value: int, read: Callable[[], tuple[float, int]]) -> float:
        """Seconds spent reading the shadow (POLL apart) until it shows ``value`` reported."""
        total = 0.0
        deadline = time.monotonic() + SETTLE
        while True:
            elapsed, reported = read()
            total += elapsed
            if reported == value:
                return total
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.r.vendor}: alarm={value} never showed in the API's shadow read")
            start = time.perf_counter()
            time.sleep(POLL)
            total += time.perf_counter() - start


class Aws(VendorApi):
    # one service: the device's shadow is the thing's classic one
    def path(self) -> str:
        return f"/things/{self.r.device_id}/shadow"

    def get(self, client: Http, key: AppKey | None = None) -> tuple[float, int]:
        headers = aws_signed(key, client.host, "GET", self.path(), "", b"") if key else {}
        elapsed, doc = client.send("GET", self.path(), headers=headers)
        return elapsed, doc["state"]["reported"]["alarm"]

    def reads(self) -> list[tuple[str, str, Probe]]:
        return [
            ("GetThingShadow", f"GET {self.path()}", lambda i: self.get(self.r.vendor_http)[0]),
            (
                "GetThingShadow, signed",
                "same, SigV4",
                lambda i: self.get(self.r.signed_http, KEY)[0],
            ),
        ]

    def update(self, value: int) -> float:
        body = json.dumps({"state": {"desired": {"alarm": value}}}).encode()
        elapsed, accepted = self.r.vendor_http.send("POST", self.path(), body, JSON)
        if accepted["state"]["desired"] != {"alarm": value}:
            raise RuntimeError(f"UpdateThingShadow answered {accepted}")
        return elapsed

    def write_answer(self, i: int) -> float:
        value = self.r.next_value()
        elapsed = self.update(value)
        self.r.settle(value)
        return elapsed

    def write_applied(self, i: int) -> float:
        value = self.r.next_value()
        elapsed = self.update(value)
        elapsed += self.poll_until_reported(value, lambda: self.get(self.r.vendor_http))
        self.r.settle(value)
        return elapsed

    def writes(self) -> list[tuple[str, str, Probe]]:
        return [
            ("UpdateThingShadow", f"POST {self.path()}, answered at once", self.write_answer),
            (
                "UpdateThingShadow + GetThingShadow until reported",
                f"then GET every {POLL * 1000:g} ms",
                self.write_applied,
            ),
        ]

    def commands(self) -> list[tuple[str, str, Probe]]:
        content = json.dumps({"service": SERVICE, "command": "ringAlarm", "params": {"duration": 10}})
        create = {"payload": {"content": base64.b64encode(content.encode()).decode()}}
        _, made = self.r.vendor_http.send("PUT", "/commands/benchRing", json.dumps(create).encode(), JSON)
        target = f"arn:aws:iot:{REGION}:000000000000:thing/{self.r.device_id}"
        start_body = json.dumps(
            {"targetArn": target, "commandArn": made["commandArn"], "parameters": {"duration": {"L": 1}}}
        ).encode()
        query = urllib.parse.urlencode({"targetArn": target})

        def run(i: int) -> float:
            client = self.r.vendor_http
            elapsed, started = client.send("POST", "/command-executions", start_body, JSON)
            deadline = time.monotonic() + SETTLE
            while True:
                took, execution = client.send("GET", f"/command-executions/{started['executionId']}?{query}")
                elapsed += took
                if execution["status"] != "CREATED":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the command execution stayed CREATED")
                pause = time.perf_counter()
                time.sleep(POLL)
                elapsed += time.perf_counter() - pause
            if execution["status"] != "SUCCEEDED" or execution["result"] != {"rang": {"S": "1"}}:
                raise RuntimeError(f"GetCommandExecution: {execution}")
            return elapsed

        return [
            (
                "StartCommandExecution + GetCommandExecution until done",
                f"POST /command-executions, then GET every {POLL * 1000:g} ms",
                run,
            )
        ]


class Huawei(VendorApi):
    def path(self, tail: str) -> str:
        return f"/v5/iot/{PROJECT}/devices/{self.r.device_id}{tail}"

    def show(self, client: Http, key: AppKey | None = None) -> float:
        path = self.path("/shadow")
        headers = huawei_signed(key, client.host, "GET", path, b"") if key else {}
        elapsed, body = client.send("GET", path, headers=headers)
        [shadow] = [s for s in body["shadow"] if s["service_id"] == SERVICE]
        if "alarm" not in shadow["reported"]["properties"]:
            raise RuntimeError(f"ShowDeviceShadow: {body}")
        return elapsed

    def reads(self) -> list[tuple[str, str, Probe]]:
        return [
            ("ShowDeviceShadow", f"GET {self.path('/shadow')}", lambda i: self.show(self.r.vendor_http)),
            (
                "ShowDeviceShadow, signed",
                "same, SDK-HMAC-SHA256",
                lambda i: self.show(self.r.signed_http, KEY),
            ),
        ]

    def update_properties(self, i: int) -> float:
        value = self.r.next_value()
        body = json.dumps({"services": [{"service_id": SERVICE, "properties": {"alarm": value}}]}).encode()
        elapsed, answer = self.r.vendor_http.send("PUT", self.path("/properties"), body, JSON)
        if answer["response"] != {"result_code": 0, "result_desc": "success"}:
            raise RuntimeError(f"UpdateProperties: {answer}")
        self.r.settle(value)
        return elapsed

    def writes(self) -> list[tuple[str, str, Probe]]:
        return [("UpdateProperties", f"PUT {self.path('/properties')}, synchronous", self.update_properties)]

    def create_command(self, i: int) -> float:
        body = json.dumps({"service_id": SERVICE, "command_name": "ringAlarm", "paras": {"duration": 1}})
        elapsed, answer = self.r.vendor_http.send("POST", self.path("/commands"), body.encode(), JSON)
        if answer["response"]["result_code"] != 0 or answer["response"]["paras"] != {"rang": 1}:
            raise RuntimeError(f"CreateCommand: {answer}")
        return elapsed

    def commands(self) -> list[tuple[str, str, Probe]]:
        return [("CreateCommand", f"POST {self.path('/commands')}, synchronous", self.create_command)]


class Tencent(VendorApi):
    def call(
        self, client: Http, action: str, params: Mapping[str, Any], key: AppKey | None = None
    ) -> tuple[float, Any]:
        body = json.dumps({"ProductId": PID, "DeviceName": self.r.name, **params}).encode()
        headers = tencent_headers(self.r.vendor, action, client.host, body, key)
        elapsed, answer = client.send("POST", "/", body, headers)
        response = answer["Response"]
        if "Error" in response:
            raise RuntimeError(f"{action}: {response['Error']}")
        return elapsed, response

    def describe(self, client: Http, key: AppKey | None = None) -> tuple[float, int]:
        """The read of the product: DescribeDeviceData (Explorer) or DescribeDeviceShadow (Hub)."""
        if self.r.vendor == "tencent-explorer":
            elapsed, response = self.call(client, "DescribeDeviceData", {}, key)
            return elapsed, json.loads(response["Data"])["alarm"]["Value"]
        elapsed, response = self.call(client, "DescribeDeviceShadow", {}, key)
        return elapsed, json.loads(response["Data"])["payload"]["state"]["reported"]["alarm"]

    @property
    def read_action(self) -> str:
        return "DescribeDeviceData" if self.r.vendor == "tencent-explorer" else "DescribeDeviceShadow"

    def reads(self) -> list[tuple[str, str, Probe]]:
        action = self.read_action
        return [
            (action, f"POST / X-TC-Action: {action}", lambda i: self.describe(self.r.vendor_http)[0]),
            (
                f"{action}, signed",
                "same, TC3-HMAC-SHA256",
                lambda i: self.describe(self.r.signed_http, KEY)[0],
            ),
        ]

    def control(self, i: int) -> float:
        value = self.r.next_value()
        elapsed, response = self.call(
            self.r.vendor_http, "ControlDeviceData", {"Data": json.dumps({"alarm": value})}
        )
        if json.loads(response["Result"]) != {"Sent": 1, "pushResult": 0}:
            raise RuntimeError(f"ControlDeviceData: {response}")
        self.r.settle(value)
        return elapsed

    def hub_update(self, value: int) -> float:
        # the current version, as the application has it from its last read (untimed here)
        version = max(s["version"] for s in self.r.cloud.get_shadow(self.r.device_id).values())
        state = json.dumps({"desired": {"alarm": value}})
        elapsed, response = self.call(
            self.r.vendor_http, "UpdateDeviceShadow", {"State": state, "ShadowVersion": version}
        )
        if json.loads(response["Data"])["payload"]["version"] != version + 1:
            raise RuntimeError(f"UpdateDeviceShadow: {response}")
        return elapsed

    def hub_answer(self, i: int) -> float:
        value = self.r.next_value()
        elapsed = self.hub_update(value)
        self.r.settle(value)
        return elapsed

    def hub_applied(self, i: int) -> float:
        value = self.r.next_value()
        elapsed = self.hub_update(value)
        elapsed += self.poll_until_reported(value, lambda: self.describe(self.r.vendor_http))
        self.r.settle(value)
        return elapsed

    def writes(self) -> list[tuple[str, str, Probe]]:
        if self.r.vendor == "tencent-explorer":
            return [("ControlDeviceData", "POST /, waits for control_reply", self.control)]
        return [
            ("UpdateDeviceShadow", "POST /, ShadowVersion current, answered at once", self.hub_answer),
            (
                "UpdateDeviceShadow + DescribeDeviceShadow until reported",
                f"then POST / every {POLL * 1000:g} ms",
                self.hub_applied,
            ),
        ]

    def action(self, i: int) -> float:
        elapsed, response = self.call(
            self.r.vendor_http,
            "CallDeviceActionSync",
            {"ActionId": "ringAlarm", "InputParams": '{"duration":1}'},
        )
        if response["Status"] != "succ" or json.loads(response["OutputParams"]) != {"rang": 1}:
            raise RuntimeError(f"CallDeviceActionSync: {response}")
        return elapsed

    def commands(self) -> list[tuple[str, str, Probe]]:
        if self.r.vendor != "tencent-explorer":
            return []  # IoT Hub's API has no command call
        return [("CallDeviceActionSync", "POST /, waits for action_reply", self.action)]


APIS: dict[str, type[VendorApi]] = {
    "aws": Aws,
    "huawei": Huawei,
    "tencent-explorer": Tencent,
    "tencent-hub": Tencent,
}


def measure(vendor: str, reads: int, writes: int, warmup: int) -> list[Row]:
    """Every row of one vendor: per operation, the direct call and each HTTP call, interleaved."""
    rows: list[Row] = []
    with rig(vendor) as r:
        api = APIS[vendor](r)
        native = "thingmodel API"
        operations: list[tuple[str, int, list[tuple[str, str, Probe]]]] = [
            (
                "read",
                reads,
                [
                    ("`cloud.get_shadow`", "direct, in process", r.direct_read),
                    *api.reads(),
                    (native, f"GET {r.native_path()}", r.native_read),
                ],
            ),
            (
                "write",
                writes,
                [
                    ("`cloud.set_desired`", "direct, in process", r.direct_write),
                    *api.writes(),
                    (native, f"POST {r.native_path('/desired')}", r.native_write),
                ],
            ),
            (
                "command",
                writes,
                [
                    ("`cloud.send_command`", "direct, in process", r.direct_command),
                    *api.commands(),
                    (native, f"POST {r.native_path('/commands')}", r.native_command),
                ],
            ),
        ]
        for operation, n, probes in operations:
            samples = interleaved({label: probe for label, _, probe in probes}, n, warmup=warmup)
            base = percentile(samples[probes[0][0]], 50)
            for label, request, _ in probes:
                got = samples[label]
                p50, p99 = percentile(got, 50), percentile(got, 99)
                rows.append(
                    {
                        "vendor": vendor,
                        "operation": operation,
                        "call": label,
                        "request": request,
                        "n": len(got),
                        "p50_ms": p50 * 1000,
                        "p99_ms": p99 * 1000,
                        "p50_ratio": p50 / base,
                        "p99_ratio": p99 / base,
                    }
                )
        reconnects = sum(c.reconnects for c in (r.vendor_http, r.native_http, r.signed_http))
        if reconnects:
            logging.getLogger("app_api").warning("%s: %d idle connection(s) reopened", vendor, reconnects)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| vendor | operation | call | request | p50 ms | p99 ms | p50 / direct p50 | p99 / direct p50 |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['vendor']} | {row['operation']} | {row['call']} | {row['request']} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['p50_ratio']:.1f}x | {row['p99_ratio']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=300, help="samples of each read (default 300)")
    parser.add_argument(
        "--writes", type=int, default=100, help="samples of each write and command (default 100)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run: 40 reads, 15 writes, little warm-up"
    )
    parser.add_argument("--vendors", help=f"a comma-separated subset of {','.join(VENDORS)}")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    vendors = args.vendors.split(",") if args.vendors else list(VENDORS)
    unknown = [v for v in vendors if v not in VENDORS]
    if unknown:
        parser.error(f"unknown vendor(s) {', '.join(unknown)}; known: {', '.join(VENDORS)}")
    reads, writes, warmup = (40, 15, 5) if args.quick else (args.reads, args.writes, 20)
    if reads < 1 or writes < 1:
        parser.error("--reads and --writes must be at least 1")
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("app_api").setLevel(logging.WARNING)
    started = time.perf_counter()
    rows: list[Row] = []
    for vendor in vendors:
        rows.extend(measure(vendor, reads, writes, warmup))
    print(
        f"thingmodel application APIs over HTTP: {os.uname().machine}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}, {reads} reads / {writes} writes and "
        f"commands per row, {time.perf_counter() - started:.0f} s"
    )
    print(table(rows))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
