"""The embedded broker (amqtt in-process) against mosquitto, as thingmodel runs them.

    python benchmarks/brokers.py [--messages 5000] [--samples 500]

Start-up until a paho client is connected, QoS 1 throughput (all delivered?), QoS 1 request/reply
round trip with TCP_NODELAY, and the checks our protocols depend on with paho 2.x: `$`-topics
(every vendor's topics start with `$`), `#` not matching them, and a clean stop.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

from _common import connect, nodelay_client, raw_round_trip, summary_us

from thingmodel.brokers import EmbeddedBroker, Mosquitto, free_port


def throughput(host: str, port: int, n: int) -> tuple[float, int]:
    """Messages per second received (first publish -> last receive) and how many arrived."""
    received = 0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(*_: Any) -> None:
        nonlocal received
        received += 1
        if received == n:
            done.set()

    sub = nodelay_client("tp-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    connect(sub, host, port)
    sub.subscribe("tp/x", qos=1)
    subscribed.wait(5)
    pub = nodelay_client("tp-pub")
    connect(pub, host, port)
    payload = b"x" * 200
    start = time.perf_counter()
    for _ in range(n):
        pub.publish("tp/x", payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - start
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return received / elapsed, received


def dollar_topics(host: str, port: int) -> str:
    """'ok' when `$oc/...` is delivered to its filter and not to '#', else what went wrong."""
    got: dict[str, list[str]] = {"exact": [], "hash": []}
    ready = threading.Event()
    exact = nodelay_client("dollar-exact")
    exact.on_message = lambda c, u, m: got["exact"].append(m.topic)
    exact.on_subscribe = lambda *a: ready.set()
    connect(exact, host, port)
    exact.subscribe("$oc/devices/+/sys/properties/report", qos=1)
    ready.wait(5)
    ready.clear()
    hashes = nodelay_client("dollar-hash")
    hashes.on_message = lambda c, u, m: got["hash"].append(m.topic)
    hashes.on_subscribe = lambda *a: ready.set()
    connect(hashes, host, port)
    hashes.subscribe("#", qos=1)
    ready.wait(5)
    pub = nodelay_client("dollar-pub")
    connect(pub, host, port)
    pub.publish("$oc/devices/d1/sys/properties/report", b"{}", qos=1).wait_for_publish(5)
    pub.publish("plain/after", b"{}", qos=1).wait_for_publish(5)
    time.sleep(0.3)
    for client in (pub, exact, hashes):
        client.loop_stop()
        client.disconnect()
    if got["exact"] != ["$oc/devices/d1/sys/properties/report"]:
        return f"FAIL: $-topic not delivered to its filter ({got['exact']})"
    if any(t.startswith("$oc") for t in got["hash"]):
        return "FAIL: '#' matched a $-topic"
    if "plain/after" not in got["hash"]:
        return "FAIL: the publisher's later messages stopped being delivered"
    return "ok"


def measure(name: str, make: Callable[[], Any], messages: int, samples: int) -> dict[str, Any]:
    start = time.perf_counter()
    broker = make().start()
    probe = nodelay_client("startup-probe")
    connect(probe, broker.host, broker.port)
    startup = time.perf_counter() - start
    probe.loop_stop()
    probe.disconnect()
    try:
        rate, received = throughput(broker.host, broker.port, messages)
        rtt = summary_us(raw_round_trip(broker.host, broker.port, samples))
        dollar = dollar_topics(broker.host, broker.port)
    finally:
        stopped = time.perf_counter()
        (broker.close if hasattr(broker, "close") else broker.stop)()
        stop = time.perf_counter() - stopped
    return {
        "name": name,
        "startup_ms": startup * 1000,
        "rate": rate,
        "received": received,
        "rtt": rtt,
        "dollar": dollar,
        "stop_ms": stop * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    rows = [
        measure(
            "embedded (amqtt 0.11.1, in-process)",
            lambda: EmbeddedBroker(port=free_port()),
            args.messages,
            args.samples,
        ),
        measure("mosquitto (subprocess)", Mosquitto, args.messages, args.samples),
    ]
    print(
        f"{'broker':38} {'start ms':>9} {'QoS1 msg/s':>11} {'delivered':>11} "
        f"{'RTT p50 us':>11} {'p99 us':>8} {'$-topics':>9} {'stop ms':>8}"
    )
    for r in rows:
        print(
            f"{r['name']:38} {r['startup_ms']:9.1f} {r['rate']:11.0f} {r['received']:>5}/{args.messages:<5} "
            f"{r['rtt']['p50']:11.0f} {r['rtt']['p99']:8.0f} {r['dollar']:>9} {r['stop_ms']:8.1f}"
        )


if __name__ == "__main__":
    main()
