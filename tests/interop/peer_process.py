"""A vendor SDK's peer program in its own process, printing what the SDK received as JSON lines.

The vendors' harnesses (``huawei_peer.Peer``, the Tencent peers) add how to start their program
and what to ask of it; this holds the part they share: reading the lines as they come, and
waiting (bounded) for the one a test needs, with the peer's own words when it does not come.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

#: how long one answer may take to reach the SDK (generous: CI machines are slow)
WAIT = 15.0

Step = dict[str, Any]


class PeerProcess:
    """``argv`` running with stdin, stdout and stderr piped; ``steps`` are its JSON lines, in the
    order they came. A ``failed`` step ends any wait with the peer's reason."""

    def __init__(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            argv,
            env=None if env is None else dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.steps: list[Step] = []
        self._stderr: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

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
        """The peer's steps and the end of its stderr, for an assertion's message."""
        return f"\npeer steps: {self.steps}\npeer stderr: {''.join(self._stderr)[-3000:]}"

    def kind(self, kind: str) -> list[Step]:
        with self._changed:
            return [s for s in self.steps if s["step"] == kind]

    def count(self, kind: str) -> int:
        return len(self.kind(kind))

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

    def join_readers(self) -> None:
        """After the process ended: wait until every line it printed is in ``steps``."""
        for reader in self._readers:
            reader.join(timeout=WAIT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
