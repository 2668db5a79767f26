"""Huawei's own Python device SDK (../shared/peers/huawei) as a peer in its own process.

Its venv is made on first use (or given as THINGMODEL_HUAWEI_PYTHON); a peer script under
``peers/`` drives the SDK, reads orders (one JSON object a line) on stdin and prints what the
SDK's callbacks received as JSON lines (``steps``). Tests assert on those steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT.parent / "shared" / "peers" / "huawei"
VENV = ROOT / ".cache" / "venv-huawei"
#: how long one answer may take to reach the SDK (generous: CI machines are slow)
WAIT = 15.0

Step = dict[str, Any]

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


class Peer:
    """The SDK in its own process running ``script`` with ``args``, driven by :meth:`do`."""

    def __init__(self, python: str, script: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(SDK)}
        self.process = subprocess.Popen(
            [python, str(script), *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.steps: list[Step] = []
        self._stderr: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        for read in (self._read_stdout, self._read_stderr):
            threading.Thread(target=read, daemon=True).start()
        self.wait_for("ready", lambda s: s["step"] == "ready")

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                with self._changed:
                    self.steps.append(json.loads(line))
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def trouble(self) -> str:
        return f"\npeer steps: {self.steps}\npeer stderr: {''.join(self._stderr)[-3000:]}"

    def do(self, what: str, **order: Any) -> Step:
        """Have the SDK do ``what``; the ``did`` step once its call returned."""
        count = self.count("did")
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": what, **order}) + "\n")
        self.process.stdin.flush()
        return self.wait_for(f"{what} done", lambda s: s["step"] == "did", after=count)

    def count(self, kind: str) -> int:
        return len(self.kind(kind))

    def kind(self, kind: str) -> list[Step]:
        with self._changed:
            return [s for s in self.steps if s["step"] == kind]

    def wait_for(
        self, what: str, match: Callable[[Step], bool], timeout: float = WAIT, after: int = 0
    ) -> Step:
        """The first step that ``match``es past the first ``after`` of its kind, waiting (bounded)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                seen: dict[str, int] = {}
                for s in self.steps:
                    if s["step"] == "failed":
                        raise AssertionError(f"the peer failed: {s['why']}{self.trouble()}")
                    seen[s["step"]] = seen.get(s["step"], 0) + 1
                    if match(s) and seen[s["step"]] > after:
                        return s
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    why = "the peer ended" if self._ended else f"timed out after {timeout:g} s"
                    raise AssertionError(f"{why} waiting for {what}{self.trouble()}")
                self._changed.wait(left)

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
