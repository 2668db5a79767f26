"""Shared by the benchmarks: raw-paho baselines and small statistics."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_us(samples: list[float]) -> dict[str, float]:
    """p50/p99/mean of samples given in seconds, in microseconds."""
    return {
        "p50": percentile(samples, 50) * 1e6,
        "p99": percentile(samples, 99) * 1e6,
        "mean": statistics.fmean(samples) * 1e6,
        "n": len(samples),
    }


def nodelay_client(name: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)

    def on_socket_open(c: Any, u: Any, sock: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    client.on_socket_open = on_socket_open
    return client


def connect(client: mqtt.Client, host: str, port: int) -> None:
    ready = threading.Event()
    client.on_connect = lambda *a: ready.set()
    client.connect(host, port)
    client.loop_start()
    if not ready.wait(10):
        raise RuntimeError("raw paho client did not connect")


def raw_round_trip(host: str, port: int, n: int, warmup: int = 50) -> list[float]:
    """QoS 1 request -> echo -> QoS 1 reply, sequential, with TCP_NODELAY on both clients."""
    responder = nodelay_client("bench-responder")
    requester = nodelay_client("bench-requester")
    got = threading.Event()
    subscribed = threading.Event()
    responder.on_message = lambda c, u, m: c.publish("bench/reply", m.payload, qos=1)
    requester.on_message = lambda c, u, m: got.set()
    responder.on_subscribe = lambda *a: subscribed.set()
    connect(responder, host, port)
    connect(requester, host, port)
    responder.subscribe("bench/request", qos=1)
    subscribed.wait(5)
    subscribed.clear()
    requester.on_subscribe = lambda *a: subscribed.set()
    requester.subscribe("bench/reply", qos=1)
    subscribed.wait(5)
    payload = b'{"services":[{"service_id":"s","properties":{"alarm":1}}]}'
    samples = []
    for i in range(n + warmup):
        got.clear()
        start = time.perf_counter()
        requester.publish("bench/request", payload, qos=1)
        if not got.wait(5):
            raise RuntimeError("raw round trip lost a message")
        if i >= warmup:
            samples.append(time.perf_counter() - start)
    for client in (requester, responder):
        client.loop_stop()
        client.disconnect()
    return samples
