"""Huawei's own Python device SDK (../shared/peers/huawei) as a peer in its own process.

Its venv is made on first use (or given as THINGMODEL_HUAWEI_PYTHON); a peer script under
``peers/`` drives the SDK, reads orders (one JSON object a line) on stdin and prints what the
SDK's callbacks received as JSON lines (``steps``). Tests assert on those steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .peer_process import WAIT, PeerProcess, Step

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT.parent / "shared" / "peers" / "huawei"
VENV = ROOT / ".cache" / "venv-huawei"

#: the marks of a module whose tests run the SDK
needs_sdk = [
    pytest.mark.broker,
    pytest.mark.skipif(
        not (SDK / "iot_device_sdk_python").is_dir(), reason="../shared/peers/huawei (Huawei's SDK) is absent"
    ),
]


def huawei_python() -> str:
    """The interpreter of the SDK's venv (made, with the SDK's requirements, on first use)."""
    given = os.environ.get("THINGMODEL_HUAWEI_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        requirements = SDK / "requirements.txt"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    return str(python)


class Peer(PeerProcess):
    """The SDK in its own process running ``script`` with ``args``, driven by :meth:`do`."""

    def __init__(self, python: str, script: Path, *args: str) -> None:
        super().__init__([python, str(script), *args], env={**os.environ, "PYTHONPATH": str(SDK)})
        self.wait_for("ready", lambda s: s["step"] == "ready")

    def do(self, what: str, **order: Any) -> Step:
        """Have the SDK do ``what``; the ``did`` step once its call returned."""
        count = self.count("did")
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": what, **order}) + "\n")
        self.process.stdin.flush()
        return self.wait_for(f"{what} done", lambda s: s["step"] == "did", after=count)

    def finish(self) -> None:
        """Tell it to quit; it must end cleanly."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"do": "quit"}) + "\n")
            self.process.stdin.flush()
            self.process.wait(timeout=WAIT)
        assert self.process.returncode == 0, self.trouble()


P = TypeVar("P", bound=Peer)


def running(peer: P) -> Iterator[P]:
    """A fixture's body: yield ``peer``, which must then finish cleanly; killed if it did not."""
    try:
        yield peer
        peer.finish()
    finally:
        if peer.process.poll() is None:
            peer.process.kill()
            peer.process.wait()
