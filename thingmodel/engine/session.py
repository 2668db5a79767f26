"""``DeviceSession``: the device core joined to a device codec and the sync state, without I/O.

Feed it what arrives (``receive``), tell it when a connection comes and goes (``connected``,
``disconnected``) and when time passes (``tick``); it calls ``publish`` with what to send through
the gate, ``publish_now`` with the shadow requests that go past it, and ``on_gate_open`` when the
gate opens. The live ``Device`` puts a transport and a worker thread around it; ``FakeCloud`` an
in-memory broker and a fake clock: both run this same sequence.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..declare.service import Service
from ..errors import CodecError
from ..protocol.codec import DeviceCodec
from ..protocol.messages import AckDesired, CommandResponse, Downlink, Outgoing, ReadResponse, Uplink
from .commands import CODE_FAILED
from .core import DeviceCore
from .scheduling import Clock
from .sync import ShadowSync, SyncStep

log = logging.getLogger("thingmodel.engine.session")

Publish = Callable[[Outgoing], object]


class DeviceSession:
    """One device's engine, codec and sync sequence. ``core_options`` go to :class:`DeviceCore`."""

    def __init__(
        self,
        services: Sequence[Service],
        codec: DeviceCodec,
        publish: Publish,
        *,
        publish_now: Publish | None = None,
        on_gate_open: Callable[[bool], None] | None = None,
        sync: ShadowSync | None = None,
        **core_options: Any,
    ) -> None:
        self.codec = codec
        self.publish = publish
        self.publish_now = publish_now or publish
        #: told ``gave_up`` (no shadow answer came) each time the gate opens
        self.on_gate_open = on_gate_open or (lambda gave_up: None)
        self.sync = sync or ShadowSync()
        self.core = DeviceCore(services, emit=self.send, **core_options)

    def send(self, message: Uplink) -> None:
        """Encode one uplink and publish it; an unencodable one is an error, not a crash."""
        try:
            outgoing = self.codec.encode(message)
        except CodecError as exc:
            self.core.report_error("encode", None, type(message).__name__, str(exc))
            fallback = _failure_answer(message, str(exc))
            if fallback is None:
                return
            try:
                outgoing = self.codec.encode(fallback)
            except CodecError:
                return
        for out in outgoing:
            self.publish(out)

    def receive(self, topic: str, payload: bytes) -> list[Downlink]:
        """Decode one downlink and let the core react to it (user code runs here)."""
        messages = self.codec.decode(topic, payload)
        for message in messages:
            self.core.handle(message)
        if self.sync.phase == "syncing":  # only then can a message open the gate
            self._step(self.sync.received(messages))
        return messages

    def connected(self, now: _dt.datetime) -> None:
        """Call after every (re)connect: asks for the shadow, so offline changes are applied."""
        self._step(self.sync.connected(now))

    def disconnected(self) -> None:
        self.sync.disconnected()

    def tick(self, now: _dt.datetime) -> None:
        """Call when time has passed: repeats an unanswered shadow request, or gives up."""
        self._step(self.sync.tick(now))

    def idle_seconds(self, clock: Clock) -> float | None:
        """Seconds until something is due: an auto-report or a shadow request (None: nothing)."""
        wait = self.core.scheduler.idle_seconds
        due = self.sync.due
        if due is None:  # the common case: read no clock for the sync
            return wait
        until = (due - clock()).total_seconds()
        return until if wait is None else min(wait, until)

    def tick_if_due(self, clock: Clock) -> None:
        """:meth:`tick` when a shadow request may be due (reads the clock only then)."""
        if self.sync.due is not None:
            self.tick(clock())

    def _step(self, step: SyncStep) -> None:
        if step.request is not None:
            try:
                outgoing = self.codec.encode(step.request)
            except CodecError as exc:
                self.core.report_error("encode", None, "RequestShadow", str(exc))
                outgoing = []
            for out in outgoing:
                self.publish_now(out)
        if step.open_gate:
            if step.gave_up:
                log.warning(
                    "no shadow answer after %d requests: sending queued messages anyway", self.sync.requests
                )
            self.on_gate_open(step.gave_up)


def _failure_answer(message: Uplink, reason: str) -> Uplink | None:
    """What to send instead of an answer that could not be encoded, so no request goes unanswered."""
    if isinstance(message, CommandResponse):
        return CommandResponse(
            message.request_id, CODE_FAILED, {"error": f"the result could not be sent: {reason}"}
        )
    if isinstance(message, AckDesired):
        return AckDesired(message.request_id, {"result": f"the answer could not be sent: {reason}"})
    if isinstance(message, ReadResponse):
        return ReadResponse(message.request_id, {})
    return None
