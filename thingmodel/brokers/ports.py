"""TCP ports on this machine: a free one, a check that one is free, a wait until one listens."""

from __future__ import annotations

import errno
import socket
import time

from ..errors import BrokerError


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
                    f"port {port} on {host} is already in use (another `thingmodel cloud` or broker?); "
                    "choose another with --port, or give --port 0 for a free one"
                ) from None
            raise BrokerError(f"cannot listen on {host}:{port}: {exc}") from None


def wait_listening(host: str, port: int, timeout: float) -> None:
    """Return once a TCP connection to host:port succeeds; BrokerError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listens on {host}:{port} after {timeout:g} s") from None
            time.sleep(0.01)
