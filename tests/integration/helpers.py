"""Small helpers shared by the integration tests."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable

from thingmodel import Event, Property, Service, command
from thingmodel.transport import Backoff
from thingmodel.types import Integer


class Detector(Service):
    """A smoke-detector-like service that records what the cloud did to it."""

    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    temperature = Property(float, default=20.0)
    counter = Property(int, default=0)

    def __init__(self) -> None:
        self.set_calls: list[int] = []
        self.commands: list[int] = []

    def set_alarm(self, value: int) -> None:
        self.set_calls.append(value)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        self.commands.append(duration)
        return {"rang": duration}


class AlarmDetector(Service):
    """A smoke detector that emits an alarm event (the events tests share it)."""

    service_id = "smokeDetector"
    alarm = Property(int, default=0)
    smoke_alarm = Event({"level": Integer(minimum=0, maximum=5)}, optional={"room": str}, kind="alert")

    def __init__(self) -> None:
        self.rings: list[int] = []

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 1) -> dict[str, int]:
        self.rings.append(duration)
        return {"rang": duration}


def fast_backoff() -> Backoff:
    return Backoff(minimum=0.05, maximum=0.5)


def ctrl_c_reaches_it() -> None:
    """``preexec_fn`` for a child the test stops with SIGINT, as Ctrl-C does: a test run started
    with SIGINT ignored (a script's ``cmd &``) would pass that on, and Python then never raises
    KeyboardInterrupt in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def eventually(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait (bounded) for something another process or thread makes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


class WireTap:
    """A loopback TCP proxy in front of a broker that decodes the MQTT packets passing through.

    ``packets`` lists ``(direction, kind, mid, topic)`` in the order they passed, direction
    "up" (client -> broker) or "down"; kind is "PUBLISH", "PUBACK" or "OTHER".
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.packets: list[tuple[str, str, int | None, str | None]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, "down"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        buffer = b""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                sink.close()
                return
            buffer = self._decode(buffer + data, direction)
            sink.sendall(data)

    def _decode(self, buffer: bytes, direction: str) -> bytes:
        while len(buffer) >= 2:
            length, multiplier, i = 0, 1, 1
            while True:
                if i >= len(buffer):
                    return buffer
                byte = buffer[i]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                i += 1
                if not byte & 0x80:
                    break
            if len(buffer) < i + length:
                return buffer
            first, body = buffer[0], buffer[i : i + length]
            kind, mid, topic = "OTHER", None, None
            if first >> 4 == 3:
                size = int.from_bytes(body[:2], "big")
                kind, topic = "PUBLISH", body[2 : 2 + size].decode()
                if (first >> 1) & 3:
                    mid = int.from_bytes(body[2 + size : 4 + size], "big")
            elif first >> 4 == 4:
                kind, mid = "PUBACK", int.from_bytes(body[:2], "big")
            with self._lock:
                self.packets.append((direction, kind, mid, topic))
            buffer = buffer[i + length :]
        return buffer

    def close(self) -> None:
        self._server.close()
