"""``DeviceSession``: the device core joined to a device codec, still without I/O.

Feed it what arrives (``receive``) and it calls ``publish`` with what to send. The live
``Device`` puts a transport and a worker thread around it; ``FakeCloud`` an in-memory broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .codecs import DeviceCodec
from .core import DeviceCore
from .errors import CodecError
from .events import DeviceAction, DeviceEvent, Outgoing

log = logging.getLogger("thingmodel.session")


class DeviceSession:
    def __init__(self, core: DeviceCore, codec: DeviceCodec, publish: Callable[[Outgoing], object]) -> None:
        self.core = core
        self.codec = codec
        self.publish = publish
        core.emit = self.send

    def send(self, action: DeviceAction) -> None:
        """Encode one action and publish it; an unencodable action is an error, not a crash."""
        try:
            outgoing = self.codec.encode(action)
        except CodecError as exc:
            self.core._error("encode", None, type(action).__name__, str(exc))
            return
        for message in outgoing:
            self.publish(message)

    def receive(self, topic: str, payload: bytes) -> list[DeviceEvent]:
        """Decode one downlink and let the core react to it (user code runs here)."""
        events = self.codec.decode(topic, payload)
        for event in events:
            self.core.handle(event)
        return events

    def connected(self) -> None:
        """Call after every (re)connect: fetches the shadow so offline changes are applied."""
        self.core.request_shadow()
