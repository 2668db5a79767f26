"""MQTT's fixed header, as bytes: the remaining-length field both ways. Used where a packet is cut
from, or written to, a socket without paho or amqtt doing it (the fast paths of the transport and
the embedded broker)."""

from __future__ import annotations


class MalformedHeader(ValueError):
    """A fixed header MQTT cannot have: the connection is broken beyond repair."""


def frame(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the body of the packet at ``data[at]`` starts and ends, if all of it is in ``data``
    (None while it is not). MalformedHeader for a remaining length longer than four bytes."""
    n, i, length, shift = len(data), at + 1, 0, 0
    while i < n:
        byte = data[i]
        i += 1
        length |= (byte & 127) << shift
        if byte < 128:
            return (i, i + length) if i + length <= n else None
        shift += 7
        if shift > 21:
            raise MalformedHeader("remaining length longer than 4 bytes")
    return None


def remaining_length(length: int) -> bytes:
    """The variable-length encoding of a packet's remaining length."""
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)
