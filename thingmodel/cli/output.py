"""What the CLI prints for a person: aligned tables, values and times as they read best."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

NONE = "-"


def value_text(value: Any) -> str:
    """A value as a person reads it: text as is, everything else as compact JSON; absent is ``-``."""
    if value is None:
        return NONE
    if isinstance(value, str):
        return value if value and value.strip() == value else json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Columns aligned on their widest cell, the header first."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def ago(timestamp: float | None, now: float | None = None) -> str:
    """``"3 s ago"``, ``"5 min ago"``, ``"2 h ago"``, else the UTC date; ``never`` for None."""
    if timestamp is None:
        return "never"
    seconds = max(0.0, (time.time() if now is None else now) - timestamp)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def online_text(online: bool | None) -> str:
    return {True: "online", False: "offline", None: "unknown"}[online]


def devices_view(devices: Sequence[Mapping[str, Any]], vendor: str) -> str:
    if not devices:
        return "no devices yet (a device appears here when it connects or the cloud keeps its shadow)"
    rows = [[d["device_id"], vendor, online_text(d.get("online")), ago(d.get("last_seen"))] for d in devices]
    return table(["DEVICE", "VENDOR", "STATE", "LAST SEEN"], rows)


def shadow_view(answer: Mapping[str, Any], vendor: str) -> str:
    """A device's shadow: one table per service of property | reported | desired | delta."""
    device = answer["device"]
    head = (
        f"device {device['device_id']} ({vendor}): {online_text(device.get('online'))}, "
        f"last seen {ago(device.get('last_seen'))}"
    )
    extra = [line for line in (versions_text(device), _latest(answer.get("upgrade"))) if line]
    head = "\n".join([head, *extra])
    services: Mapping[str, Mapping[str, Any]] = answer.get("services") or {}
    if not services:
        return head + "\n(no shadow yet: the device has reported nothing and nothing is desired)"
    parts = [head]
    for sid, state in services.items():
        reported, desired, delta = state["reported"], state["desired"], state["delta"]
        names = list(dict.fromkeys([*reported, *desired]))
        rows = [
            [
                name,
                value_text(reported.get(name)),
                value_text(desired.get(name)),
                "pending" if name in delta else "",
            ]
            for name in names
        ]
        parts.append(f"\nservice {sid} (version {state['version']})")
        parts.append(table(["PROPERTY", "REPORTED", "DESIRED", "DELTA"], rows, indent="  "))
    return "\n".join(parts)


def versions_text(device: Mapping[str, Any]) -> str:
    """``runs firmware 2.0, software 1.1`` (empty when the device said nothing)."""
    said = [
        f"{what} {device[key]}"
        for what, key in (("firmware", "fw_version"), ("software", "sw_version"))
        if device.get(key)
    ]
    return "runs " + ", ".join(said) if said else ""


def _latest(upgrade: Mapping[str, Any] | None) -> str:
    if not upgrade:
        return ""
    return f"upgrade {upgrade['task_id']} to {upgrade['version']}: {upgrade_line(upgrade)}"


def upgrade_line(upgrade: Mapping[str, Any]) -> str:
    """How an upgrade stands: ``pending``, ``downloading 40%``, ``succeeded``, ``failed (verify): ...``."""
    state, percent = upgrade["state"], upgrade.get("percent")
    if state == "failed":
        why = f" ({upgrade['failure']})" if upgrade.get("failure") else ""
        reason = upgrade.get("reason") or ""
        return f"failed{why}: {reason}" if reason else f"failed{why}"
    if state == "succeeded":
        return f"succeeded: now runs {upgrade['version']}"
    if percent is not None and state in ("downloading", "installing"):
        return f"{state} {percent}%"
    return str(state)


def upgrade_started(device_id: str, upgrade: Mapping[str, Any], package: Mapping[str, Any]) -> str:
    return (
        f"upgrade {upgrade['task_id']} of {device_id} to {upgrade['version']} ({upgrade['kind']}): "
        f"package {package['name']}, {package['size']} bytes, sha256 {package['sha256'][:16]}…"
    )


def upgrade_failed(device_id: str, upgrade: Mapping[str, Any]) -> str:
    """The one line ``thingmodel ota`` ends with on failure."""
    why = f" ({upgrade['failure']})" if upgrade.get("failure") else ""
    reason = " ".join(str(upgrade.get("reason") or "no reason given").split())  # one line
    return f"upgrade of {device_id} to {upgrade['version']} failed{why}: {reason}"


def upgrade_trace_line(entry: Mapping[str, Any]) -> str:
    """An upgrade's change as a line of ``thingmodel watch``."""
    stamp = (
        time.strftime("%H:%M:%S", time.localtime(entry["time"])) + f".{int(entry['time'] * 1000) % 1000:03d}"
    )
    try:
        upgrade = json.loads(entry.get("payload") or "{}")
        text = f"upgrade {upgrade['task_id']} to {upgrade['version']}: {upgrade_line(upgrade)}"
    except (ValueError, KeyError, TypeError):
        text = "upgrade (unreadable)"
    return f"{stamp}  ⇅ {entry.get('device_id') or '?'}  {text}"


def desire_view(device_id: str, service_id: str, answer: Mapping[str, Any]) -> str:
    values = ", ".join(f"{k}={value_text(v)}" for k, v in (answer.get("properties") or {}).items())
    if answer.get("ok"):
        return f"{device_id}/{service_id}: applied {values}"
    if answer.get("pending"):
        return (
            f"{device_id}/{service_id}: {values} pending: the device has not answered; "
            "the value waits in the shadow and is applied when it does"
        )
    errors = answer.get("errors") or {}
    reasons = "; ".join(f"{k}: {v}" for k, v in errors.items()) or "no reason given"
    return f"{device_id}/{service_id}: refused ({reasons})"


def command_view(device_id: str, name: str, answer: Mapping[str, Any]) -> str:
    params = answer.get("params") or {}
    if answer.get("timed_out"):
        return f"{device_id}: command {name} got no answer ({params.get('error', 'timed out')})"
    shown = ", ".join(f"{k}={value_text(v)}" for k, v in params.items()) or "(no result)"
    verdict = "ok" if answer.get("ok") else f"failed, code {answer.get('code')}"
    return f"{device_id}: command {name} {verdict}: {shown}"


_ARROWS = {"up": "↑", "down": "↓", "online": "+", "offline": "-"}


def trace_line(entry: Mapping[str, Any]) -> str:
    """One feed entry as a line of ``thingmodel watch``."""
    stamp = (
        time.strftime("%H:%M:%S", time.localtime(entry["time"])) + f".{int(entry['time'] * 1000) % 1000:03d}"
    )
    kind = entry["kind"]
    device = entry.get("device_id") or "?"
    if kind in ("online", "offline"):
        return f"{stamp}  {_ARROWS[kind]} {device} {'connected' if kind == 'online' else 'disconnected'}"
    return (
        f"{stamp}  {_ARROWS.get(kind, kind)} {device}  {entry.get('topic', '')}  {entry.get('payload', '')}"
    )


def model_view(model: Any) -> str:
    """A product model as tables (``thingmodel model show``)."""
    from ..types import Decimal, Enum, Integer

    def constraints(kind: Any) -> str:
        parts = []
        if isinstance(kind, Enum):
            labels = [
                f"{value_text(c)}={kind.labels[c]}" if kind.labels.get(c) else value_text(c)
                for c in kind.choices
            ]
            parts.append("one of " + ", ".join(labels))
        if isinstance(kind, (Integer, Decimal)):
            if kind.minimum is not None or kind.maximum is not None:
                low = NONE if kind.minimum is None else value_text(kind.minimum)
                high = NONE if kind.maximum is None else value_text(kind.maximum)
                parts.append(f"{low}..{high}")
            if kind.step:
                parts.append(f"step {value_text(kind.step)}")
        max_length = getattr(kind, "max_length", None)
        if max_length is not None:
            parts.append(f"max {max_length} chars")
        return ", ".join(parts)

    def param_rows(params: Sequence[Any]) -> list[list[str]]:
        return [[p.name + ("" if p.required else "?"), p.type.name, constraints(p.type)] for p in params]

    lines = [f"{model.source} ({model.dialect})"]
    for s in model.services.values():
        other_type = s.service_type not in (None, s.service_id)
        lines.append("")
        lines.append(f"service {s.service_id}" + (f" (type {s.service_type})" if other_type else ""))
        if s.description:
            lines.append(f"  {s.description}")
        if s.properties:
            rows = [
                [
                    p.name,
                    ("R" if p.readable else "") + ("W" if p.writeable else ""),
                    p.type.name,
                    constraints(p.type),
                    p.unit or "",
                    p.description or "",
                ]
                for p in s.properties
            ]
            lines.append(table(["PROPERTY", "ACCESS", "TYPE", "VALUES", "UNIT", "DESCRIPTION"], rows, "  "))
        for c in s.commands:
            lines.append(f"  command {c.name}" + (f": {c.description}" if c.description else ""))
            if c.params:
                lines.append(table(["PARAMETER", "TYPE", "VALUES"], param_rows(c.params), "    "))
            if c.responses:
                lines.append(table(["RESPONSE", "TYPE", "VALUES"], param_rows(c.responses), "    "))
        for e in s.events:
            lines.append(f"  event {e.name}" + (f" ({e.type})" if e.type else ""))
            if e.params:
                lines.append(table(["PARAMETER", "TYPE", "VALUES"], param_rows(e.params), "    "))
    if any(not p.required for s in model.services.values() for c in s.commands for p in c.params):
        lines.append("")
        lines.append("a name ending in ? is optional: the command may be sent without it")
    return "\n".join(lines)
