"""What a vendor codec is: the device half and the platform half of one protocol, sans-IO.

A device codec decodes the downlinks a device receives into :data:`~.messages.Downlink`
messages and encodes its :data:`~.messages.Uplink` messages into publishes; a platform codec
does the same for the cloud's end. Both name the key under which the platform files a
service's shadow (``shadow_key``): the service id on Huawei, the shadow's name on AWS, the
ProductId on Tencent (one document per device).

Each codec encodes through a table ``{message class: method}`` (:class:`EncoderTable`), so what a
vendor can send is data: ``codec.encoders.kinds`` lists it, and :func:`thingmodel.vendors.support_table`
prints the matrix docs/vendors.md shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from ..errors import CodecError
from .messages import Downlink, Outgoing, PlatformDownlink, PlatformUplink, Uplink

C = TypeVar("C")
M = TypeVar("M")


class EncoderTable(Generic[C, M]):
    """``{message class: encoder}`` for one codec class, filled by the :meth:`on` decorator.

    ``encode(codec, message)`` looks the message's class up (one dict lookup, no ``isinstance``
    ladder); a class with no encoder is a :class:`CodecError` naming the vendor and the message.
    """

    def __init__(self, vendor: str, what: str = "") -> None:
        self.vendor = vendor
        self.what = what
        self._table: dict[type, Callable[[C, Any], list[Outgoing]]] = {}

    def on(
        self, *kinds: type
    ) -> Callable[[Callable[[C, Any], list[Outgoing]]], Callable[[C, Any], list[Outgoing]]]:
        def register(encoder: Callable[[C, Any], list[Outgoing]]) -> Callable[[C, Any], list[Outgoing]]:
            for kind in kinds:
                self._table[kind] = encoder
            return encoder

        return register

    @property
    def kinds(self) -> frozenset[type]:
        return frozenset(self._table)

    def encode(self, codec: C, message: M) -> list[Outgoing]:
        encoder = self._table.get(type(message))
        if encoder is None:
            self._refuse(message)
        return encoder(codec, message)

    def method(self) -> Callable[[C, M], list[Outgoing]]:
        """``encode`` as a method for the codec class (``encode = TABLE.method()`` in its body):
        one call per message, not two."""
        table = self._table

        def encode(codec: C, message: M) -> list[Outgoing]:
            encoder = table.get(type(message))
            if encoder is None:
                self._refuse(message)
            return encoder(codec, message)

        encode.__doc__ = f"Encode one message for {self.vendor}; CodecError for one it cannot send."
        return encode

    def _refuse(self, message: object) -> NoReturn:
        what = f" ({self.what})" if self.what else ""
        raise CodecError(f"{self.vendor} has no way to send {type(message).__name__}{what}")

    def items(self) -> Mapping[type, Callable[[C, Any], list[Outgoing]]]:
        return dict(self._table)


class DeviceCodec(Protocol):
    vendor: str

    def subscriptions(self) -> list[str]: ...

    @property
    def encoders(self) -> EncoderTable[Any, Any]: ...

    def shadow_key(self, service_id: str) -> str: ...

    def custom_topic(self, name: str) -> str:
        """The full topic of the device's own custom topic ``name`` (already validated)."""
        ...

    def decode(self, topic: str, payload: bytes) -> list[Downlink]: ...

    def encode(self, message: Uplink) -> list[Outgoing]: ...


class PlatformCodec(Protocol):
    vendor: str

    def subscriptions(self) -> list[str]: ...

    @property
    def encoders(self) -> EncoderTable[Any, Any]: ...

    def shadow_key(self, device_id: str, service_id: str) -> str: ...

    def decode(self, topic: str, payload: bytes) -> list[PlatformUplink]: ...

    def encode(self, message: PlatformDownlink) -> list[Outgoing]: ...
