"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from thingmodel import Property, Service, command
from thingmodel.transport import Backoff


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


def fast_backoff() -> Backoff:
    return Backoff(minimum=0.05, maximum=0.5)


def eventually(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait (bounded) for something another process or thread makes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)
