"""``thingmodel cloud`` run as a user runs it, in a subprocess, for the application-SDK tests.

:class:`CloudProcess` starts ``python -m thingmodel.cli cloud --vendor V --port 0 --http-port 0
--app-key ID:SECRET`` with its state in a directory of the test's own, reads where it listens
from its start-up lines, and answers what the tests ask of the cloud (a device's shadow, whether
it knows a device, its trace) through thingmodel's own HTTP API, as any other client would. On
stop it gets SIGTERM and must exit 0 with no traceback on its stderr.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any

from thingmodel.cloud.client import ApiError, CloudClient
from thingmodel.cloud.http import AppKey

#: seconds the cloud may take to print where it listens, and to stop after SIGTERM
START_WAIT = 30.0
STOP_WAIT = 15.0


class CloudProcess:
    """A running ``thingmodel cloud``: ``url`` (MQTT), ``host``, ``port``, ``http_url``, ``vendor``."""

    def __init__(self, vendor: str, key: AppKey, state_dir: Path) -> None:
        self.vendor, self.key = vendor, key
        env = {**os.environ, "THINGMODEL_STATE_DIR": str(state_dir)}
        for name in ("THINGMODEL_CLOUD", "THINGMODEL_APP_KEY"):
            env.pop(name, None)
        command = [sys.executable, "-m", "thingmodel.cli", "cloud", "--vendor", vendor]
        command += ["--port", "0", "--http-port", "0", "--app-key", f"{key.id}:{key.secret}"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        # both pipes are drained all along, so the cloud never blocks on a full one
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._stderr_closed = threading.Event()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            first, second = self._line(), self._line()
            if "serving on " not in first or "console:" not in second:
                raise AssertionError(f"unexpected start-up lines: {first!r} {second!r}")
            self.url = first.split("serving on ", 1)[1].split()[0].rstrip(";")
            self.http_url = second.split("console:", 1)[1].strip().rstrip("/")
            mqtt = urllib.parse.urlsplit(self.url)
            if mqtt.hostname is None or mqtt.port is None:
                raise AssertionError(f"no host and port in {self.url!r}")
        except AssertionError as exc:
            self.process.kill()
            self.process.wait(timeout=STOP_WAIT)
            self._stderr_closed.wait(STOP_WAIT)
            raise AssertionError(
                f"`thingmodel cloud --vendor {vendor}` did not start: {exc}{self.trouble()}"
            ) from None
        self.host, self.port = mqtt.hostname, mqtt.port
        self.client = CloudClient(self.http_url, app_key=key)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._stdout.put(line)
        self._stdout.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
        self._stderr_closed.set()

    def _line(self) -> str:
        try:
            line = self._stdout.get(timeout=START_WAIT)
        except queue.Empty:
            raise AssertionError(f"nothing printed in {START_WAIT:g} s") from None
        if line is None:
            raise AssertionError(f"it ended with code {self.process.wait(timeout=STOP_WAIT)}")
        return line

    def trouble(self) -> str:
        """The end of the cloud's stderr, to show with a failure."""
        return f"\ncloud stderr: {''.join(self._stderr)[-3000:]}"

    def _device(self, device_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.client.get(f"/devices/{urllib.parse.quote(device_id, safe='')}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def get_shadow(self, device_id: str) -> dict[str, dict[str, Any]]:
        """``{service_id: {"desired", "reported", "version"}}``; ``{}`` for a device it does not know."""
        found = self._device(device_id)
        if found is None:
            return {}
        return {
            sid: {"desired": s["desired"], "reported": s["reported"], "version": s["version"]}
            for sid, s in found["services"].items()
        }

    def is_known(self, device_id: str) -> bool:
        """Whether the cloud knows the device (the API's 404 says it does not)."""
        return self._device(device_id) is not None

    def trace(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """The feed's recent entries (about ``device_id``), oldest first: kind, topic, payload, ..."""
        entries: list[dict[str, Any]] = self.client.get("/trace", device_id=device_id, limit=1000)["entries"]
        return entries

    def stop(self) -> str:
        """SIGTERM; asserts the cloud exited 0 with no traceback, and gives its stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_WAIT)
            raise AssertionError(f"the cloud did not stop on SIGTERM{self.trouble()}") from None
        self._stderr_closed.wait(STOP_WAIT)
        err = "".join(self._stderr)
        assert self.process.returncode == 0, f"the cloud exited {self.process.returncode}{self.trouble()}"
        assert "Traceback" not in err, f"a traceback from the cloud{self.trouble()}"
        return err

    def __enter__(self) -> CloudProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
