"""Helpers for tests that play a device by hand on the local cloud's broker (the vendor's wire
payloads, published and received with a bare paho client) and fetch from its HTTP server."""

from __future__ import annotations

import json
import queue
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.cloud import LocalCloud

WAIT = 5.0


class WireDevice:
    """A paho client connected to ``cloud``'s embedded broker as ``client_id`` (in development
    mode the broker takes that for the device id), subscribed to ``filters``."""

    def __init__(self, cloud: LocalCloud, client_id: str, *filters: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False
        )
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._subscribed: queue.Queue[object] = queue.Queue()
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda *_: self._subscribed.put(None)
        self.client.connect("127.0.0.1", cloud.port, keepalive=30)
        self.client.loop_start()
        if filters:
            self.client.subscribe([(f, 1) for f in filters])
            self._subscribed.get(timeout=WAIT)
        deadline = time.monotonic() + WAIT
        while cloud.presence.is_online(client_id) is not True:  # the broker told the cloud
            if time.monotonic() > deadline:
                raise AssertionError(f"{client_id} is not online on the cloud")
            time.sleep(0.01)

    def publish(self, topic: str, body: Any) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(topic, payload, qos=1).wait_for_publish(WAIT)

    def take(
        self, matches: Callable[[str, Any], bool] = lambda t, b: True, timeout: float = WAIT
    ) -> tuple[str, Any]:
        """The next message (``(topic, JSON or bytes)``) that ``matches``; others are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching message came")
            try:
                topic, payload = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            try:
                body: Any = json.loads(payload)
            except ValueError:
                body = payload
            if matches(topic, body):
                return topic, body

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def fetch(
    url: str, headers: Mapping[str, str] | None = None, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers (lowercase names), body)``, errors included."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def huawei_event(service_id: str, event_type: str, paras: Mapping[str, Any]) -> dict[str, Any]:
    return {"services": [{"service_id": service_id, "event_type": event_type, "paras": dict(paras)}]}


def huawei_paras(body: Any, event_type: str) -> dict[str, Any] | None:
    """The ``paras`` of an IoTDA event of ``event_type`` in ``body`` (None: not such an event)."""
    if not isinstance(body, dict):
        return None
    for service in body.get("services", []):
        if service.get("event_type") == event_type:
            paras: dict[str, Any] = service.get("paras", {})
            return paras
    return None
