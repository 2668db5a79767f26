"""Golden (topic, payload) fixtures: loading them and comparing what a codec sends with them.

A fixture is one JSON file under ``tests/fixtures/{vendor}/``: ``source`` (the reference note and
section it was taken from), ``direction`` (``"down"``: cloud to device, ``"up"``: device to
cloud), ``topic``, ``payload``, ``may_omit`` (keys our encoders may leave out) and the neutral
message it stands for, described by class name and fields: ``event`` for a downlink (what the
device half decodes it into), ``action`` for an uplink (what the device half encodes to it).
Tencent and AWS fixtures add ``device_id`` and ``service_ids`` (the device half's), ``platform``
(the platform half's neutral message: the request it encodes to a downlink, or the event it
decodes an uplink into) and, where the device half needs a history, ``before``: what it decodes
(``{"decode": {"topic", "payload"}}``) or encodes (``{"encode": description}``) first. A field
that is itself a message (a ``GatewayAsked``'s request, a ``ChildInfo``) is described the same
way, with its ``type``. Vendors add their own keys; their tests say what those mean.

Codecs that put timestamps and tokens on the wire run on :func:`fixed_clock` and :func:`counter`
in these tests, so that every payload can be compared in full.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from thingmodel.protocol import messages as ev

FIXTURES = Path(__file__).parent.parent / "fixtures"
#: in a description, stands for the fixture's payload as bytes (free-form messages)
WIRE_PAYLOAD = "<wire payload>"
#: the Unix time every clock-taking codec reads in the golden tests
CLOCK = 1700000000.123


def fixed_clock() -> float:
    return CLOCK


def counter(prefix: str = "tok-") -> Callable[[], str]:
    """A ``new_id`` that hands out ``tok-1``, ``tok-2`` ..."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def fixture_paths(vendor: str) -> list[Path]:
    return sorted((FIXTURES / vendor).glob("*.json"))


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def wire(fixture: Mapping[str, Any]) -> bytes:
    return json.dumps(fixture["payload"]).encode()


def build(description: Mapping[str, Any], wire: bytes = b"") -> Any:
    """The attrs message a description names: ``{"type": class name, field: value ...}``."""
    fields = {k: (wire if v == WIRE_PAYLOAD else _nested(v)) for k, v in description.items() if k != "type"}
    cls = getattr(ev, description["type"])
    if cls in (ev.ShadowSnapshot, ev.AnswerShadow):
        fields["services"] = {sid: ev.ShadowState(**state) for sid, state in fields["services"].items()}
    if cls is ev.ShipLogs:
        fields["entries"] = tuple(ev.LogEntry(**entry) for entry in fields["entries"])
    if cls is ev.DesiredCleared:
        fields["services"] = {
            sid: None if names is None else tuple(names) for sid, names in fields["services"].items()
        }
    return cls(**fields)


def _nested(value: Any) -> Any:
    """A field that is itself a described message (``{"type": "ChildInfo", ...}``, the request of
    a ``GatewayAsked``), or a list of them, built; any other value as it is."""
    if _described(value):
        return build(value)
    if isinstance(value, list) and value and all(_described(v) for v in value):
        return tuple(build(v) for v in value)
    return value


def _described(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and hasattr(ev, value["type"])


def run_before(codec: Any, fixture: Mapping[str, Any]) -> None:
    """Take a device half through the fixture's ``before`` steps; what they give is not checked."""
    for step in fixture.get("before", []):
        if "decode" in step:
            codec.decode(step["decode"]["topic"], wire(step["decode"]))
        else:
            codec.encode(build(step["encode"]))


def without_omitted(expected: Any, actual: Any, may_omit: list[str]) -> Any:
    """``expected`` minus the keys in ``may_omit`` that ``actual`` left out (recursively)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {
            key: without_omitted(value, actual.get(key), may_omit)
            for key, value in expected.items()
            if key in actual or key not in may_omit
        }
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [without_omitted(e, a, may_omit) for e, a in zip(expected, actual, strict=True)]
    return expected


def assert_equivalent(out: ev.Outgoing, expected: Mapping[str, Any]) -> None:
    """``out`` goes to ``expected["topic"]`` with ``expected["payload"]``, compared as parsed JSON
    and minus the keys in ``expected["may_omit"]`` that ``out`` leaves out."""
    assert out.topic == expected["topic"]
    actual = json.loads(out.payload)
    assert actual == without_omitted(expected["payload"], actual, expected.get("may_omit", []))
