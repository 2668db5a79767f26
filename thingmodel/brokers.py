"""MQTT brokers on this machine: the embedded default and a mosquitto runner.

We never write a broker. :class:`EmbeddedBroker` runs amqtt (pure Python, installed with the
``local`` extra) inside this process on a daemon thread; :class:`Mosquitto` starts the mosquitto
binary with a configuration that does not lose data (no queue limit for QoS 1, TCP_NODELAY on).
Anything else is reached by URL (``mqtt://host:port``, ``mqtts://...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from .errors import BrokerError as BrokerError  # raised here; defined with the others

log = logging.getLogger("thingmodel.brokers")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise BrokerError naming the port if something already listens there."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerError(
                    f"port {port} on {host} is already in use; choose another with "
                    "--port, or omit it to pick a free one"
                ) from None
            raise BrokerError(f"cannot listen on {host}:{port}: {exc}") from None


def wait_listening(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listens on {host}:{port} after {timeout:g} s") from None
            time.sleep(0.01)


class EmbeddedBroker:
    """amqtt running in this process (MQTT 3.1.1), on its own asyncio loop thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from amqtt.broker import Broker
        except ImportError:
            raise BrokerError("the embedded broker needs amqtt: pip install 'thingmodel[local]'") from None
        check_port_free(self.host, self.port)
        for name in ("amqtt", "transitions"):  # chatty at INFO/WARNING about its own config
            logging.getLogger(name).setLevel(logging.ERROR)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="embedded-broker", daemon=True)
        self._thread.start()

        async def boot() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        try:
            asyncio.run_coroutine_threadsafe(boot(), loop).result(timeout)
        except Exception as exc:
            self.stop()
            raise BrokerError(f"the embedded broker did not start on {self.host}:{self.port}: {exc}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, broker = self._loop, self._broker
        if loop is None:
            return
        if broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(Exception):
            loop.close()
        self._loop = self._broker = self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
