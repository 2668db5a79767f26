"""The connect -> shadow sync -> open-the-gate sequence, as one pure state machine (in the manner
of h11's connection state).

After every (re)connect the device asks for its shadow *past the gate*: its queue of reports made
while offline is held back. The cloud's answer is applied like any desired change, and proves the
cloud listens again; only then does the gate open and the queue go out, so nothing is sent into a
broker nobody listens to yet (after a broker restart it would be acknowledged and lost). Without an
answer the request is repeated every ``retry_interval`` seconds; after ``max_requests`` requests the
gate opens anyway.

:class:`ShadowSync` is fed ``connected(now)``, ``received(messages)``, ``tick(now)`` and
``disconnected()``; each returns a :class:`SyncStep` saying what to do. It reads no clock, starts no
timer and touches no socket: :class:`~thingmodel.device.Device` drives it on its worker thread,
:class:`~thingmodel.testing.FakeCloud` on its fake clock.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Literal

import attrs

from ..ids import new_id as _new_id
from ..protocol.messages import Downlink, RequestShadow, ShadowSnapshot

Phase = Literal["offline", "syncing", "open"]


@attrs.frozen
class SyncStep:
    """What the driver must do now: send ``request`` past the gate; open the gate (``gave_up``
    when no answer came)."""

    request: RequestShadow | None = None
    open_gate: bool = False
    gave_up: bool = False


NOTHING = SyncStep()


class ShadowSync:
    """One device's sync state: the connection number, the requests sent on it, the gate."""

    def __init__(
        self,
        *,
        retry_interval: float = 1.0,
        max_requests: int = 10,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        if not retry_interval > 0:
            raise ValueError(f"retry_interval must be positive, got {retry_interval!r}")
        if max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {max_requests!r}")
        self.retry_interval = retry_interval
        self.max_requests = max_requests
        self.new_id = new_id
        #: how many connections this device has made
        self.connection = 0
        self.phase: Phase = "offline"
        #: shadow requests sent on the current connection
        self.requests = 0
        #: when the next request is due (None when none is)
        self.due: _dt.datetime | None = None

    @property
    def gate_open(self) -> bool:
        return self.phase == "open"

    def connected(self, now: _dt.datetime) -> SyncStep:
        """A new connection is up: hold the gate and ask for the shadow."""
        self.connection += 1
        self.phase = "syncing"
        self.requests = 0
        return self._ask(now)

    def disconnected(self) -> None:
        """The connection is gone: nothing is due until the next one."""
        self.phase = "offline"
        self.due = None

    def received(self, messages: Iterable[Downlink]) -> SyncStep:
        """Messages decoded from the cloud (and already handled): a shadow answer opens the gate."""
        if self.phase != "syncing" or not any(isinstance(m, ShadowSnapshot) for m in messages):
            return NOTHING
        self.phase, self.due = "open", None
        return SyncStep(open_gate=True)

    def tick(self, now: _dt.datetime) -> SyncStep:
        """Time passed: ask again when a request is due, or give up and open the gate."""
        if self.phase != "syncing" or self.due is None or now < self.due:
            return NOTHING
        if self.requests >= self.max_requests:
            self.phase, self.due = "open", None
            return SyncStep(open_gate=True, gave_up=True)
        return self._ask(now)

    def idle_seconds(self, now: _dt.datetime) -> float | None:
        """Seconds until :meth:`tick` has work (None when it has none)."""
        return None if self.due is None else (self.due - now).total_seconds()

    def _ask(self, now: _dt.datetime) -> SyncStep:
        self.requests += 1
        self.due = now + _dt.timedelta(seconds=self.retry_interval)
        return SyncStep(request=RequestShadow(self.new_id()))

    def __repr__(self) -> str:
        return f"<ShadowSync connection {self.connection} {self.phase}, {self.requests} requests>"
