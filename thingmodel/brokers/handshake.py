"""The MQTT CONNECT of 3.1 ("MQIsdp", level 3) and 3.1.1 ("MQTT", level 4), sans-IO: the bytes
of a first packet in, a :class:`Connect` or a :class:`Refusal` out; and the CONNACK bytes back.

A refusal carries the CONNACK return code to answer with (None: close without one, as MQTT
allows for a packet that is not MQTT at all) and a short ``kind`` for rate-limited logging.
"""

from __future__ import annotations

import attrs

from ..errors import CodecError

#: the largest CONNECT read (a will message makes it long); past that the peer is refused
MAX_CONNECT_SIZE = 256 * 1024
CONNECT_HEADER = 0x10

ACCEPTED = 0
UNACCEPTABLE_PROTOCOL_VERSION = 1
IDENTIFIER_REJECTED = 2
NOT_AUTHORIZED = 5

MQTT5_REFUSED = (
    "MQTT 5 is not served by the embedded broker; connect with 3.1.1 or use --broker with mosquitto"
)


@attrs.frozen
class Will:
    """The message a client leaves for the broker to publish if its connection ends abnormally."""

    topic: str
    message: bytes
    qos: int
    retain: bool


@attrs.frozen
class Connect:
    """A CONNECT the broker can serve."""

    protocol: int  # 3 (MQTT 3.1) or 4 (3.1.1)
    client_id: str  # "" when the client left it to the broker (3.1.1, clean session only)
    clean_session: bool
    keep_alive: int
    will: Will | None
    username: str | None
    password: str | None = attrs.field(repr=False)


@attrs.frozen
class Refusal:
    """Why a first packet is refused, and how to answer it."""

    kind: str
    reason: str
    return_code: int | None = None


def connack(return_code: int, session_present: bool = False) -> bytes:
    """A CONNACK packet (the same bytes in 3.1 and 3.1.1; 3.1 has no session-present flag)."""
    return bytes((0x20, 0x02, 0x01 if session_present else 0x00, return_code))


def check_first_byte(byte: int) -> Refusal | None:
    """None if a packet starting with this byte can be a CONNECT."""
    if byte == CONNECT_HEADER:
        return None
    if byte >> 4 == CONNECT_HEADER >> 4:
        return Refusal("bad CONNECT", f"reserved bits set in the CONNECT header (0x{byte:02x})")
    return Refusal("not MQTT", f"the first packet is not a CONNECT (first byte 0x{byte:02x})")


def remaining_length(encoded: bytes) -> int | Refusal | None:
    """The length the varint ``encoded`` gives, None if it needs more bytes."""
    value = 0
    for index, byte in enumerate(encoded):
        if index >= 4:
            return Refusal("not MQTT", "the CONNECT's length takes more than 4 bytes")
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if index + 1 != len(encoded):
                return Refusal("not MQTT", "bytes after the CONNECT's length")
            if value > MAX_CONNECT_SIZE:
                return Refusal("bad CONNECT", f"a CONNECT of {value} bytes (at most {MAX_CONNECT_SIZE})")
            return value
    return None


def decode_connect(body: bytes) -> Connect | Refusal:
    """The CONNECT whose variable header and payload are ``body``."""
    try:
        return _decode(body)
    except CodecError as exc:
        return Refusal("bad CONNECT", str(exc))


def _decode(body: bytes) -> Connect | Refusal:
    reader = _Reader(body)
    name = reader.string("protocol name")
    level = reader.byte("protocol level")
    if name == "MQTT" and level == 5:
        return Refusal("MQTT 5", MQTT5_REFUSED, UNACCEPTABLE_PROTOCOL_VERSION)
    if (name, level) not in (("MQTT", 4), ("MQIsdp", 3)):
        if name not in ("MQTT", "MQIsdp"):
            return Refusal("bad CONNECT", f"unknown protocol name {name!r}")
        return Refusal(
            "protocol version",
            f"protocol {name!r} level {level} is not served (MQIsdp 3 and MQTT 4 are)",
            UNACCEPTABLE_PROTOCOL_VERSION,
        )
    flags = reader.byte("connect flags")
    keep_alive = reader.uint16("keep alive")
    if flags & 0x01:
        raise CodecError("the reserved connect flag is set")
    clean_session = bool(flags & 0x02)
    will_flag, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 0x03, bool(flags & 0x20)
    has_password, has_username = bool(flags & 0x40), bool(flags & 0x80)
    if will_qos == 3:
        raise CodecError("will QoS 3")
    if not will_flag and (will_qos or will_retain):
        raise CodecError("will QoS or retain set without a will")
    if has_password and not has_username:
        raise CodecError("a password without a user name")

    client_id = reader.string("client id")
    will = None
    if will_flag:
        topic = reader.string("will topic")
        if not topic or "+" in topic or "#" in topic:
            raise CodecError(f"the will topic {topic!r} is empty or has wildcards")
        will = Will(topic, reader.binary("will message"), will_qos, will_retain)
    username = reader.string("user name") if has_username else None
    password = reader.binary("password").decode("utf-8", errors="replace") if has_password else None
    if reader.left:
        raise CodecError(f"{reader.left} bytes after the CONNECT payload")
    if not client_id and (level == 3 or not clean_session):
        why = "MQTT 3.1 needs one" if level == 3 else "a persistent session (clean session 0) needs one"
        return Refusal("bad CONNECT", f"an empty client id: {why}", IDENTIFIER_REJECTED)
    return Connect(level, client_id, clean_session, keep_alive, will, username, password)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def _take(self, count: int, what: str) -> bytes:
        if self.left < count:
            raise CodecError(f"the CONNECT ends inside its {what}")
        chunk = self._data[self._at : self._at + count]
        self._at += count
        return chunk

    def byte(self, what: str) -> int:
        return self._take(1, what)[0]

    def uint16(self, what: str) -> int:
        return int.from_bytes(self._take(2, what), "big")

    def binary(self, what: str) -> bytes:
        return self._take(self.uint16(what), what)

    def string(self, what: str) -> str:
        raw = self.binary(what)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError(f"the {what} is not UTF-8") from None
        if "\x00" in text:
            raise CodecError(f"the {what} contains U+0000")
        return text
