"""What a fleet run prints: the live progress line, the summary at the end and its verdict.

Pure functions of the numbers (:class:`Progress`, :class:`RunNumbers`), so each is tested
without running a fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


def ms(seconds: float | None) -> str:
    """A latency in milliseconds for people: ``3.1 ms``, ``18 ms``, ``-`` for none."""
    if seconds is None:
        return "-"
    value = seconds * 1000
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


@attrs.frozen
class Progress:
    """One progress line's numbers."""

    connected: int
    devices: int
    reports_per_second: float
    p50: float | None
    p99: float | None
    errors: int


def progress_line(p: Progress) -> str:
    """``connected 1998/2000  reports/s 412  latency p50 3.1 ms p99 18 ms  errors 0``."""
    return (
        f"connected {p.connected}/{p.devices}  reports/s {p.reports_per_second:.0f}  "
        f"latency p50 {ms(p.p50)} p99 {ms(p.p99)}  errors {p.errors}"
    )


@attrs.frozen
class RunNumbers:
    """A finished run: what :func:`summary_text` prints and :func:`verdict` judges."""

    devices: int
    connected: int
    #: seconds from the first connect attempt to the last device connected (None: none did)
    connect_seconds: float | None
    #: seconds the fleet reported for
    seconds: float
    sent: int
    received: int
    lost: int
    latency_p50: float | None
    latency_p99: float | None
    latency_max: float | None
    #: the latency of the reports sent once every device had connected (or failed to)
    steady_p50: float | None = None
    steady_p99: float | None = None
    steady_max: float | None = None
    #: ``{kind: count}``: connect failures, device errors, values refused, unexpected reports ...
    errors: Mapping[str, int] = attrs.field(factory=dict)
    #: messages the devices' offline queues dropped
    dropped: int = 0
    #: connected devices without a shadow in the cloud afterwards (None: not checked)
    missing_shadows: int | None = None
    #: scheduled reports the simulator could not make in time (it fell behind)
    late: int = 0
    interrupted: bool = False
    seed: int = 0
    shard: str = "0/1"
    #: the first reason given for each kind of error
    reasons: Mapping[str, str] = attrs.field(factory=dict)

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def verdict(n: RunNumbers) -> tuple[int, str]:
    """``(0, "")`` when every device connected and nothing was lost, dropped, refused or missing;
    else ``(1, why)`` with every reason in one line."""
    why = []
    if n.connected < n.devices:
        why.append(f"{n.devices - n.connected} of {n.devices} devices did not connect")
    if n.lost:
        why.append(f"{n.lost} of {n.sent} reports did not arrive")
    if n.dropped:
        why.append(f"{n.dropped} messages dropped from offline queues")
    errors = sum(count for kind, count in n.errors.items() if kind != "connect")
    if errors:
        why.append(f"{errors} error{'' if errors == 1 else 's'} ({_kinds(n.errors, skip='connect')})")
    if n.missing_shadows:
        why.append(f"{n.missing_shadows} devices have no shadow in the cloud")
    if not why:
        return 0, ""
    return 1, "; ".join(why)


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _kinds(errors: Mapping[str, int], skip: str = "") -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(errors.items()) if kind != skip and count)


def summary_text(n: RunNumbers) -> str:
    """The summary printed at the end of a run."""
    connect = f" in {_seconds(n.connect_seconds)}" if n.connect_seconds is not None else ""
    lines = [
        f"fleet shard {n.shard}, seed {n.seed}{', interrupted' if n.interrupted else ''}",
        f"  devices connected  {n.connected}/{n.devices}{connect}",
        f"  reports            sent {n.sent}, received {n.received}, lost {n.lost} "
        f"over {_seconds(n.seconds)}",
        f"  latency            p50 {ms(n.latency_p50)}, p99 {ms(n.latency_p99)}, max {ms(n.latency_max)}",
        f"    once connected   p50 {ms(n.steady_p50)}, p99 {ms(n.steady_p99)}, max {ms(n.steady_max)}",
        f"  errors             {sum(n.errors.values())}"
        + (f" ({_kinds(n.errors)})" if any(n.errors.values()) else ""),
    ]
    for kind, reason in sorted(n.reasons.items()):
        lines.append(f"    {kind}: {reason}")
    lines.append(f"  dropped            {n.dropped}")
    if n.missing_shadows is not None:
        lines.append(f"  shadows missing    {n.missing_shadows}")
    if n.late:
        lines.append(f"  reports late       {n.late} (the simulator fell behind its schedule)")
    return "\n".join(lines)
