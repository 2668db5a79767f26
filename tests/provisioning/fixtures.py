"""The provisioning fixtures: ``tests/fixtures/{vendor}/provisioning/prov-NN-*.json``.

Each holds ``source`` (the reference note it was taken from), ``direction`` (``up``: device to
service, ``down``: service to device, ``connect``: a sign-in), the wire (MQTT ``topic`` and
``payload``, the JSON body or null for an empty message; HTTP ``method``, ``url``, ``headers``
and ``body``) and what a half reads from it (``request``, ``answer``, ``refused``...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures"


def paths(vendor: str) -> list[Path]:
    return sorted((FIXTURES / vendor / "provisioning").glob("prov-*.json"))


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def named(vendor: str, stem: str) -> dict[str, Any]:
    return load(FIXTURES / vendor / "provisioning" / f"{stem}.json")


def wire(fixture: dict[str, Any]) -> bytes:
    """The MQTT payload as bytes (empty for ``null``)."""
    payload = fixture["payload"]
    return b"" if payload is None else json.dumps(payload).encode()


def ids(found: list[Path]) -> list[str]:
    return [p.stem for p in found]
