"""Shared by the benchmarks: raw-paho baselines and small statistics."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
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
    """A raw paho client set up as our transport sets up its own: TCP_NODELAY, and up to 100
    QoS 1 messages in flight (paho's default is 20; past it publish() only queues)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)
    client.max_inflight_messages_set(100)

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


class RawRoundTrip:
    """Raw baseline for a request/response: QoS 1 request -> echo -> QoS 1 reply, one at a time."""

    def __init__(self, host: str, port: int, tag: str = "rtt") -> None:
        self._got = threading.Event()
        self.responder = nodelay_client(f"{tag}-responder")
        self.requester = nodelay_client(f"{tag}-requester")
        self.request, self.reply = f"bench/{tag}/request", f"bench/{tag}/reply"

        def echo(c: mqtt.Client, u: Any, m: mqtt.MQTTMessage) -> None:
            c.publish(self.reply, m.payload, qos=1)

        self.responder.on_message = echo
        self.requester.on_message = lambda c, u, m: self._got.set()
        connect(self.responder, host, port)
        connect(self.requester, host, port)
        subscribe(self.responder, self.request)
        subscribe(self.requester, self.reply)

    def sample(self) -> float:
        self._got.clear()
        start = time.perf_counter()
        self.requester.publish(
            self.request, b'{"services":[{"service_id":"s","properties":{"alarm":1}}]}', qos=1
        )
        if not self._got.wait(5):
            raise RuntimeError("raw round trip lost a message")
        return time.perf_counter() - start

    def close(self) -> None:
        for client in (self.requester, self.responder):
            client.loop_stop()
            client.disconnect()


def subscribe(client: mqtt.Client, topic: str) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.subscribe(topic, qos=1)
    if not done.wait(5):
        raise RuntimeError(f"no SUBACK for {topic}")


def raw_round_trip(host: str, port: int, n: int, warmup: int = 50) -> list[float]:
    """``n`` sequential raw round trips (see RawRoundTrip)."""
    probe = RawRoundTrip(host, port)
    try:
        samples = [probe.sample() for _ in range(n + warmup)]
    finally:
        probe.close()
    return samples[warmup:]


def interleaved(
    probes: dict[str, Callable[[int], float]], n: int, warmup: int = 50, gap: float = 0.001
) -> dict[str, list[float]]:
    """Sample each probe in turn, ``n`` times after ``warmup`` rounds, pausing ``gap`` seconds
    after every sample: the baseline and ours then see the same machine, whatever else it does."""
    out: dict[str, list[float]] = {name: [] for name in probes}
    for i in range(n + warmup):
        for name, probe in probes.items():
            value = probe(i)
            if i >= warmup:
                out[name].append(value)
            time.sleep(gap)
    return out
