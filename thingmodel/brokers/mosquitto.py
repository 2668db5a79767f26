"""mosquitto as a subprocess, with a configuration that does not lose data.

``max_queued_messages 0`` (the default 1000 silently drops QoS 1 messages to a slow subscriber) and
``set_tcp_nodelay true``. mosquitto serves MQTT 3.1, 3.1.1 and 5.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..errors import BrokerError
from .ports import check_port_free, free_port, wait_listening

MOSQUITTO_CONFIG = """\
listener {port} {host}
{tls_lines}
allow_anonymous {anonymous}
{password_line}
# QoS 1 messages to a slow subscriber must never be dropped (the default limit of 1000 does).
max_queued_messages 0
# Without it each QoS 1 request/response waits ~40 ms on Nagle's algorithm.
set_tcp_nodelay true
persistence false
log_dest stdout
log_type error
log_type warning
"""


class Mosquitto:
    """A mosquitto process with a data-safe configuration, for tests, benchmarks and the CLI."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        executable: str = "mosquitto",
        users: dict[str, str] | None = None,
        tls: tuple[str, str, str] | None = None,
    ) -> None:
        path = shutil.which(executable)
        if path is None:
            raise BrokerError(f"{executable} is not installed (Debian: apt-get install mosquitto)")
        self.executable = path
        self.host = host
        self.port = port or free_port(host)
        self.users = dict(users or {})
        #: (CA file, server certificate, server key) for a TLS listener
        self.tls = tls
        self._dir = tempfile.TemporaryDirectory(prefix="thingmodel-mosquitto-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def _write_config(self) -> Path:
        directory = Path(self._dir.name)
        password_line = ""
        if self.users:
            password_file = directory / "passwords"
            password_file.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True, capture_output=True)
            password_file.chmod(0o644)
            password_line = f"password_file {password_file}"
        os.chmod(directory, 0o755)
        tls_files: tuple[str, ...] = ()
        if self.tls:
            # mosquitto started as root reads them as user "mosquitto": keep copies it can reach
            copies = []
            for source, name in zip(self.tls, ("ca.crt", "server.crt", "server.key"), strict=True):
                target = directory / name
                shutil.copyfile(source, target)
                target.chmod(0o644)
                copies.append(str(target))
            tls_files = tuple(copies)
        config = directory / "mosquitto.conf"
        config.write_text(
            MOSQUITTO_CONFIG.format(
                host=self.host,
                port=self.port,
                anonymous="false" if self.users else "true",
                password_line=password_line,
                tls_lines="\n".join(
                    f"{k} {v}" for k, v in zip(("cafile", "certfile", "keyfile"), tls_files, strict=False)
                ),
            )
        )
        config.chmod(0o644)
        return config

    def start(self, timeout: float = 10.0) -> Mosquitto:
        check_port_free(self.host, self.port)
        config = self._write_config()
        self._log = open(Path(self._dir.name) / "mosquitto.log", "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [self.executable, "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_listening(self.host, self.port, timeout)
        except BrokerError as exc:
            self.stop()
            output = (Path(self._dir.name) / "mosquitto.log").read_text(errors="replace").strip()
            raise BrokerError(f"{exc}; mosquitto said: {output[-500:] or '(nothing)'}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: the broker dies without a word, as in a crash."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
