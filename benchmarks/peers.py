"""Peers side by side: thingmodel, AWS's v2 SDK (awsiotsdk) and v1 SDK (AWSIoTPythonSDK) as
devices against the same local cloud in AWS mode on the same mosquitto, each a ratio to raw paho
doing the same thing in the same run.

    python benchmarks/peers.py [--n 600] [--rounds 3]

Each device runs in its own process (the SDKs keep process-wide state), all four side by side,
taking turns; see _peer_device.py for what is timed. Each round starts the four processes
afresh and the samples of all rounds are pooled: where the scheduler puts a process (beside the
broker's CPU or not) shifts its latency by tens of microseconds for the process's whole life,
more than the differences measured here.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import summary_us

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud

KINDS = ("raw", "thingmodel", "v2", "v1")


Samples = dict[str, dict[str, Any]]  # kind -> {"samples": {figure: [seconds]}, "lost": {figure: n}}


def measure(host: str, port: int, n: int, turns: int = 10) -> Samples:
    """All four devices run side by side, each in its own process; they take turns of n/turns
    samples per figure, in rotating order, so that every kind sees the same machine."""
    script = str(Path(__file__).parent / "_peer_device.py")
    procs = {
        kind: subprocess.Popen(
            [sys.executable, script, kind, host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind in KINDS
    }
    try:
        offers: dict[str, list[str]] = {}
        for kind, proc in procs.items():
            assert proc.stdout is not None
            word, _, figures = proc.stdout.readline().strip().partition(" ")
            if word != "ready":
                raise SystemExit(f"{kind} did not start")
            offers[kind] = figures.split(",")
        per_turn = max(1, n // turns)
        for turn in range(turns):
            order = KINDS[turn % len(KINDS) :] + KINDS[: turn % len(KINDS)]
            for figure in ("delta", "update", "command"):
                for kind in (k for k in order if figure in offers[k]):
                    proc = procs[kind]
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"{figure} {per_turn}\n")
                    proc.stdin.flush()
                    if proc.stdout.readline().strip() != "done":
                        raise SystemExit(f"{kind} failed during {figure}")
        out: Samples = {}
        for kind, proc in procs.items():
            stdout, _ = proc.communicate(timeout=60)
            out[kind] = json.loads(stdout.strip().splitlines()[-1])
        return out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()


def pooled(rounds: list[Samples]) -> dict[str, dict[str, dict[str, float]]]:
    """Each kind's figures over all rounds: p50/p99/mean/n, and the answers lost."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for kind in rounds[0]:
        out[kind] = {}
        for name in rounds[0][kind]["samples"]:
            values = [v for r in rounds for v in r[kind]["samples"][name]]
            lost = sum(r[kind]["lost"][name] for r in rounds)
            out[kind][name] = {**summary_us(values), "lost": lost}
    return out


def rows(results: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    raw = results["raw"]
    lines = (
        ("3", "delta", "thingmodel", "thingmodel desired -> setter"),
        ("3", "delta", "v2", "awsiotsdk v2 desired -> delta callback"),
        ("3", "delta", "v1", "AWSIoTPythonSDK v1 desired -> delta callback"),
        ("5", "command", "thingmodel", "thingmodel command -> response"),
        ("5", "update", "v2", "awsiotsdk v2 shadow update -> accepted"),
        ("5", "update", "v1", "AWSIoTPythonSDK v1 shadow update -> accepted"),
    )
    out = []
    for figure in ("3", "5"):
        for stat in ("p50", "p99"):
            for _, key, kind, what in (line for line in lines if line[0] == figure):
                ours = results[kind][key]
                lost = int(ours.get("lost", 0))
                out.append(
                    {
                        "figure": f"6 ({figure}) {what} {stat}",
                        "ours": ours[stat],
                        "base": raw[key][stat],
                        "unit": "us",
                        "ratio": ours[stat] / raw[key][stat],
                        "target": "beat v1 and v2" if kind == "thingmodel" else "",
                        "note": f"{lost} of {int(ours['n']) + lost} answers lost" if lost else "",
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="samples per figure and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with fresh processes")
    args = parser.parse_args()
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be at least 1")
    logging.basicConfig(level=logging.ERROR)
    with Mosquitto() as broker, LocalCloud(vendor="aws", broker=broker.url):
        table = rows(pooled([measure(broker.host, broker.port, args.n) for _ in range(args.rounds)]))
    print(f"| {'figure':52} | {'value':>10} | {'raw paho':>10} | {'ratio':>6} |")
    print(f"|{'-' * 54}|{'-' * 12}|{'-' * 12}|{'-' * 8}|")
    for r in table:
        print(f"| {r['figure']:52} | {r['ours']:>7.0f} us | {r['base']:>7.0f} us | {r['ratio']:>6.2f} |")


if __name__ == "__main__":
    main()
