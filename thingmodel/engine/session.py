"""``DeviceSession``: the device core joined to a device codec, still without I/O.

Feed it what arrives (``receive``) and it calls ``publish`` with what to send. The live
``Device`` puts a transport and a worker thread around it; ``FakeCloud`` an in-memory broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import CodecError
from ..protocol.messages import AckDesired, CommandResponse, Downlink, Outgoing, ReadResponse, Uplink
from ..vendors import DeviceCodec
from .core import CODE_FAILED, DeviceCore

log = logging.getLogger("thingmodel.engine.session")


class DeviceSession:
    def __init__(self, core: DeviceCore, codec: DeviceCodec, publish: Callable[[Outgoing], object]) -> None:
        self.core = core
        self.codec = codec
        self.publish = publish
        core.emit = self.send

    def send(self, action: Uplink) -> None:
        """Encode one action and publish it; an unencodable action is an error, not a crash."""
        try:
            outgoing = self.codec.encode(action)
        except CodecError as exc:
            self.core._error("encode", None, type(action).__name__, str(exc))
            fallback = _failure_answer(action, str(exc))
            if fallback is None:
                return
            try:
                outgoing = self.codec.encode(fallback)
            except CodecError:
                return
        for message in outgoing:
            self.publish(message)

    def receive(self, topic: str, payload: bytes) -> list[Downlink]:
        """Decode one downlink and let the core react to it (user code runs here)."""
        events = self.codec.decode(topic, payload)
        for event in events:
            self.core.handle(event)
        return events

    def connected(self) -> None:
        """Call after every (re)connect: fetches the shadow so offline changes are applied."""
        self.core.request_shadow()


def _failure_answer(action: Uplink, reason: str) -> Uplink | None:
    """What to send instead of an answer that could not be encoded, so no request goes unanswered."""
    if isinstance(action, CommandResponse):
        return CommandResponse(
            action.request_id, CODE_FAILED, {"error": f"the result could not be sent: {reason}"}
        )
    if isinstance(action, AckDesired):
        return AckDesired(action.request_id, {"result": f"the answer could not be sent: {reason}"})
    if isinstance(action, ReadResponse):
        return ReadResponse(action.request_id, {})
    return None
