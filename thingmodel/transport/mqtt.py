"""The MQTT transport on paho-mqtt 2.x: the only module that opens sockets.

- TLS with certificate and host-name verification by default (a CA file or the system store),
  client certificates, and an explicit, loudly logged ``insecure`` opt-out. Plain TCP is for
  loopback unless asked for explicitly.
- TCP_NODELAY on the socket (without it a QoS 1 request/response stalls ~40 ms on Nagle).
- Reconnect with exponential backoff and jitter, reset after each successful connection;
  credentials are computed again for every attempt (Huawei's depend on the hour). A CONNACK
  refusing the credentials ends the retries with :class:`AuthenticationError`.
- Every filter is subscribed again after each (re)connect, at QoS 1 unless ``subscription_qos``
  names another QoS for it.
- Session: clean by default. With ``clean_session=False`` (and a fixed client id) the broker
  keeps the subscriptions and the QoS 1 messages for them while the client is away, and sends
  them (and those delivered but not acknowledged) after the reconnect.
- Delivery: the transport keeps every QoS 1 message until the broker acknowledges it. Messages
  published while disconnected, and those unacknowledged when a connection drops, wait in one
  ordered queue and are sent again, in order, after the reconnect (each connection uses a fresh
  paho client, so paho never resends behind our back and the order stays ours).
- Gate: with ``gated=True`` a new connection holds the queue until :meth:`open_gate` is called.
  The Device opens it once its shadow request is answered, which proves the cloud is subscribed
  again (after a broker restart, messages sent before that would be acknowledged and lost).
- Acknowledgement: by default paho acknowledges a QoS 1 message (PUBACK) once ``on_message``
  returns. With ``ack_when_handled=True`` the PUBACK waits until the handler calls the ``ack``
  it was given, from any thread: the Device calls it after its worker has handled the message,
  so the broker learns of it only then, and paho's network thread does no ack work at the
  moment the worker wakes (it measurably shortens desired -> setter; benchmarks/run.py figure
  3). The handler must call ``ack`` for every message, in the order they arrived (MQTT asks for
  PUBACKs in order); if it raises, the transport acknowledges for it.
- Batched acknowledgements: :func:`ack_all` sends the PUBACKs of many messages (the local
  cloud's batch) in one write, where paho writes each one by itself and wakes its network
  thread for each.
- Reading: paho asks the socket for each packet's first byte and its length a byte at a time,
  and handles one packet per ``select()`` while nothing of its own is in flight; here the socket
  is read up to 64 KiB at a time and every packet already read is handled before the next
  ``select()`` (:class:`_Client`). At thousands of messages a second that is most of paho's
  system calls gone, and with them most of the switches between its thread and the others.
- Durable (``outbox``, a :class:`~.outbox.SqliteOutbox`): every message accepted is also
  written to the outbox until the broker acknowledges it (QoS 0: until it is handed to paho),
  so what a killed process had not delivered is loaded again by the next one and sent first,
  in order. Without it the queue is memory only.
- Bound: at most ``offline_limit`` messages wait. Past that the *oldest* is dropped (the newest
  state matters most): logged, counted in :attr:`dropped` and passed to ``on_drop``. Nothing is
  dropped silently.

- Threads: none of its own. Every transport's socket is served by one :class:`~.loop.IoLoop`
  (the process's shared one unless ``loop`` names another), and its connects run on the loop's
  connector threads; reconnect waits are the loop's timers.

Callbacks (``on_message``, ``on_connect``, ``on_disconnect``) run on the loop's thread, which
serves every connection: keep them short and hand work to another thread (the Device does).
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import logging
import operator
import random
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ..errors import AuthenticationError, ConnectError
from ..protocol.messages import Outgoing
from ..protocol.mqttwire import frame as _frame
from .flag import Flag
from .loop import Channel, IoLoop, Timer

if TYPE_CHECKING:
    from .outbox import SqliteOutbox

log = logging.getLogger("thingmodel.transport")

_MALFORMED: tuple[type[Exception], ...]
try:
    from paho.mqtt.exception import MalformedPacket

    _MALFORMED = (MalformedPacket, struct.error)
except ImportError:  # paho 2.0: a malformed packet raises struct.error
    _MALFORMED = (struct.error,)

_AUTH_REFUSED = {4, 5, 134, 135}

#: QoS 1 messages in flight at once. The transport keeps the rest in its own queue, not paho's:
#: paho's queue is walked in full at every acknowledgement, and behind a busy publisher that walk
#: held the lock the publisher needs.
WINDOW = 100  # MQTT 3.1.1 CONNACK 4/5 as paho maps them to MQTT 5 codes


@attrs.frozen
class TlsOptions:
    """TLS settings. Verification is on unless ``insecure=True`` (never do that in production)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


@attrs.frozen
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://host:port`` (plain) or ``mqtts://host:port`` (TLS)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError(f"broker URL {url!r} must look like mqtt://host:port or mqtts://host:port")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ValueError(f"broker URL {url!r}: {exc}") from None
        return cls(parts.hostname, port, tls)

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Credentials = Callable[[], tuple[str, str | None, str | None]]
"""Called before every connection attempt: ``(client_id, username, password)``."""

_SUCCESS = mqtt.MQTT_ERR_SUCCESS
_NO_CONN = mqtt.MQTT_ERR_NO_CONN

Ack = Callable[[], None]
"""Acknowledges one received message; passed to ``on_message`` with it."""


def _already_acked() -> None:
    """The ack of a QoS 0 message, or of one paho acknowledged on receipt: nothing to do."""


class _Ack(tuple):  # type: ignore[type-arg]
    """The ack of one QoS 1/2 message received on ``client``: ``(client, mid, qos)``. A tuple:
    one is made for every message, and a tuple is made without running Python code. On a
    connection that is gone paho drops it: there is nothing to answer then."""

    __slots__ = ()
    client = property(operator.itemgetter(0))
    mid = property(operator.itemgetter(1))
    qos = property(operator.itemgetter(2))

    def __call__(self) -> None:
        self[0].ack(self[1], self[2])


def ack_all(acks: Iterable[Ack]) -> None:
    """Call each ack, in order; the PUBACKs of consecutive QoS 1 messages of one connection go
    out together, in one write."""
    mids: list[int] = []
    batched: _Client | None = None
    for ack in acks:
        if isinstance(ack, _Ack) and ack.qos == 1 and isinstance(ack.client, _Client):
            if ack.client is not batched:
                if batched is not None:
                    batched.ack_many(mids)
                batched, mids = ack.client, []
            mids.append(ack.mid)
            continue
        if batched is not None:
            batched.ack_many(mids)
            batched, mids = None, []
        ack()
    if batched is not None:
        batched.ack_many(mids)


_READ_SIZE = 65536
#: packets handled from what was read before paho's loop gets a turn to write and time out
_PACKETS_PER_READ = 1000
_PUBACK = struct.Struct("!BBH")
_PUBLISH = 0x30
# what every MQTT 3.1.1 PUBACK says (paho makes both anew for each one: ~5 us a message)
_ACKED = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
_EOF = (-1, b"")
# paho's state of a packet being read (client._in_packet), as paho resets it after each one
_IN_PACKET_KEYS = {
    "command",
    "have_remaining",
    "remaining_count",
    "remaining_mult",
    "remaining_length",
    "packet",
    "to_process",
    "pos",
}


def _fresh_in_packet() -> Any:  # paho's _InPacket
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class _BufferedSocket:
    """paho's socket, read ``_READ_SIZE`` bytes at a time and cut into packets here
    (:meth:`next_packet`); ``pending()``, which paho asks of TLS sockets too, tells paho's loop
    not to wait in ``select()`` while a whole packet is already read. Everything else is the
    socket's own."""

    __slots__ = ("_at", "_data", "_inner_pending", "_more", "_sock", "fileno", "send")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.send = sock.send  # asked for at every write: not through __getattr__
        self.fileno = sock.fileno
        self._inner_pending: Callable[[], int] | None = getattr(sock, "pending", None)  # TLS
        self._data = b""
        self._at = 0
        self._more = True  # the socket may have more than was read: worth another recv

    def next_packet(self) -> tuple[int, bytes] | None:
        """``(first byte, the rest)`` of the next packet; None while it is not all there (the
        socket has nothing more now), ``_EOF`` when the peer closed. Raises what ``recv`` does,
        and ValueError for a malformed remaining length."""
        data, at = self._data, self._at
        while True:
            whole = _frame(data, at) if at < len(data) else None
            if whole is not None:
                start, end = whole
                self._at = end
                return data[at], data[start:end]
            if not self._more:  # a short read emptied the socket: its next bytes wake the loop
                return None
            try:
                more = self._sock.recv(_READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                return None
            if not more:
                return _EOF
            # TLS reads a record at a time: what it holds decrypted is not in the kernel's count
            inner = self._inner_pending
            self._more = len(more) == _READ_SIZE or (inner is not None and inner() > 0)
            data = data[at:] + more if at < len(data) else more
            at = 0
            self._data, self._at = data, 0

    def recv(self, size: int) -> bytes:  # paho's own reading, if it ever does it
        data, at = self._data, self._at
        if at >= len(data):
            return bytes(self._sock.recv(size))
        self._at = at + size
        return data[at : at + size]

    def pending(self) -> int:
        inner = self._inner_pending
        if inner is not None and inner():
            return 1
        at = self._at  # a whole packet read and not yet taken (asked after every read)
        return int(at < len(self._data) and _frame(self._data, at) is not None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Client(mqtt.Client):
    """paho's client, reading through a :class:`_BufferedSocket` and handling every packet that
    is read before it goes back to ``select()``. PUBLISH packets (QoS 0 and 1, MQTT 3.1.1) go
    straight to ``fast_message(client, topic, payload, qos, mid)`` when it is set, without
    paho's message objects (each held a lock and a condition) and topic matching; a PUBACK
    (MQTT 3.1.1) goes to paho's ``on_publish`` without a reason code and properties made for it;
    every other packet is handled by paho, as it reads it. :meth:`ack_many` sends many PUBACKs
    at once."""

    fast_message: Callable[[mqtt.Client, str, bytes, int, int], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        in_packet = getattr(self, "_in_packet", None)
        self._framing = (
            isinstance(in_packet, dict)
            and set(in_packet) == _IN_PACKET_KEYS
            and hasattr(self, "_out_messages")
            and hasattr(self, "_out_message_mutex")
        )

    def _create_socket(self) -> Any:
        return _BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> Any:
        # paho reads one packet per call when nothing of its own is in flight; here every packet
        # already read, and what the socket has now, up to _PACKETS_PER_READ.
        sock = self._sock
        if not self._framing or not isinstance(sock, _BufferedSocket) or self._in_packet["command"]:
            return super().loop_read(max_packets)
        buffered: _BufferedSocket = sock
        buffered._more = True  # the selector said it is readable (or bytes wait in it)
        for _ in range(_PACKETS_PER_READ):
            rc = self._packet_read()
            if rc == mqtt.MQTT_ERR_AGAIN:
                break
            if rc > 0:
                return self._loop_rc_handle(rc)
            if not buffered._more and buffered._at >= len(buffered._data):  # all read: epoll tells of more
                break
            if self._sock is not sock:  # disconnected meanwhile
                break
        return _SUCCESS

    def _packet_read(self) -> Any:
        sock = self._sock
        if not self._framing or not isinstance(sock, _BufferedSocket) or self._in_packet["command"]:
            return super()._packet_read()
        try:
            packet = sock.next_packet()
        except ssl.SSLWantWriteError:
            self._call_socket_register_write()
            return mqtt.MQTT_ERR_AGAIN
        except ValueError:
            return mqtt.MQTT_ERR_PROTOCOL
        except OSError as exc:
            self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", exc)
            return mqtt.MQTT_ERR_CONN_LOST
        if packet is None:
            return mqtt.MQTT_ERR_AGAIN
        if packet is _EOF:
            return mqtt.MQTT_ERR_CONN_LOST
        with self._msgtime_mutex:  # for the keep-alive: paho 2.1+ reads the first, 2.0 the second
            self._last_bytes_received = self._last_msg_in = time.monotonic()
        first, body = packet
        if first & 0xF0 == _PUBLISH and self.fast_message is not None and self._protocol != mqtt.MQTTv5:
            rc = self._fast_publish(first, body)
            if rc is not None:
                return rc
        elif first == mqtt.PUBACK and len(body) == 2 and self._protocol != mqtt.MQTTv5:
            mid = (body[0] << 8) | body[1]
            with self._out_message_mutex:
                if mid in self._out_messages:  # as paho: only the first PUBACK of a message counts
                    return self._do_on_publish(mid, _ACKED, _NO_PROPERTIES)
            return _SUCCESS
        self._in_packet = in_packet = _fresh_in_packet()
        in_packet.update(command=first, have_remaining=1, remaining_length=len(body), packet=bytearray(body))
        try:
            return self._packet_handle()
        except _MALFORMED as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            return mqtt.MQTT_ERR_PROTOCOL
        finally:
            self._in_packet = _fresh_in_packet()

    def _fast_publish(self, first: int, body: bytes) -> Any:
        """Deliver a QoS 0/1 PUBLISH; None to leave it to paho (QoS 2, a topic not UTF-8)."""
        qos = (first >> 1) & 3
        if qos > 1 or len(body) < 2:
            return None
        end = 2 + ((body[0] << 8) | body[1])
        if end == 2:  # no topic: paho's to refuse
            return None
        mid = 0
        if qos:
            if len(body) < end + 2:
                return mqtt.MQTT_ERR_PROTOCOL
            mid = (body[end] << 8) | body[end + 1]
        elif len(body) < end:
            return mqtt.MQTT_ERR_PROTOCOL
        try:
            topic = body[2:end].decode()
        except UnicodeDecodeError:
            return None
        deliver = self.fast_message
        assert deliver is not None
        with self._in_callback_mutex:
            deliver(self, topic, body[end + 2 * qos :], qos, mid)
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return _SUCCESS

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge these QoS 1 messages (``manual_ack``), in order, in one write."""
        if mids and self._manual_ack:
            packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, packet, mids[-1], 1)


#: paho's internals _Client builds on (paho 2.0 to 2.2); without them it is plain paho
_PAHO_INTERNALS = all(
    hasattr(mqtt.Client, name)
    for name in (
        "_create_socket",
        "_packet_queue",
        "_packet_read",
        "_packet_handle",
        "_send_puback",
        "_do_on_publish",
        "_call_socket_register_write",
        "_easy_log",
        "_loop_rc_handle",
        "loop_read",
    )
)


@attrs.define(eq=False, repr=False)
class Backoff:
    """Exponential backoff with jitter: ``min * 2**n`` capped at ``max``, each wait drawn
    uniformly from the upper half of that (so attempts of many devices spread out)."""

    minimum: float = 0.5
    maximum: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.minimum * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class MqttTransport:
    """One MQTT connection that stays up: connect, subscribe, publish, reconnect."""

    # slots: a fleet holds 10,000 of these, and a dict of this many attributes costs 1.5 KiB
    __slots__ = (
        "_client",
        "_connected",
        "_context",
        "_credentials",
        "_drained",
        "_drop_streak",
        "_early_acks",
        "_early_subacks",
        "_ended",
        "_ever_connected",
        "_fatal",
        "_inflight",
        "_keys",
        "_last_error",
        "_lock",
        "_loop",
        "_open",
        "_outbox_failed",
        "_queue",
        "_refill_due",
        "_retry",
        "_send_lock",
        "_session_over",
        "_started",
        "_stopping",
        "_sub_lock",
        "_sub_waiters",
        "_subscribe_mid",
        "ack_when_handled",
        "backoff",
        "clean_session",
        "dropped",
        "gated",
        "host",
        "keepalive",
        "name",
        "offline_limit",
        "on_connect",
        "on_disconnect",
        "on_drop",
        "on_message",
        "outbox",
        "port",
        "subscription_qos",
        "subscriptions",
        "tls",
        "will",
    )

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Credentials,
        *,
        tls: TlsOptions | None = None,
        subscriptions: list[str] | None = None,
        subscription_qos: Mapping[str, int] | None = None,
        clean_session: bool = True,
        keepalive: int = 60,
        backoff: Backoff | None = None,
        offline_limit: int = 1000,
        gated: bool = False,
        will: Outgoing | None = None,
        on_message: Callable[[str, bytes, Ack], None] | None = None,
        ack_when_handled: bool = False,
        on_connect: Callable[[], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
        on_drop: Callable[[Outgoing], None] | None = None,
        name: str = "thingmodel",
        loop: IoLoop | None = None,
        outbox: SqliteOutbox | None = None,
    ) -> None:
        if tls is None and not is_loopback(host):
            log.warning("plain TCP to %s:%s: credentials and data travel unencrypted", host, port)
        if offline_limit < 1:
            raise ValueError("offline_limit must be at least 1")
        self.host = host
        self.port = port
        self.tls = tls
        self.subscriptions = list(subscriptions or [])
        #: per filter, a QoS other than 1 to subscribe with
        self.subscription_qos = dict(subscription_qos or {})
        self.clean_session = clean_session
        self.keepalive = keepalive
        self.backoff = backoff or Backoff()
        self.offline_limit = offline_limit
        self.gated = gated
        self.will = will
        self.on_message = on_message
        self.ack_when_handled = ack_when_handled
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.on_drop = on_drop
        self.name = name
        #: messages dropped because the offline queue was full
        self.dropped = 0
        self._credentials = credentials
        self._context = self._tls_context(tls) if tls is not None else None
        # Delivery state, guarded by _lock (never held while calling into paho: paho calls
        # on_publish while holding its own lock, and publish() takes that lock). The flags share
        # its condition (never set one while holding _lock).
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)  # notified when nothing awaits an ack
        self._connected = Flag(self._drained)
        self._stopping = Flag(self._drained)
        self._session_over = Flag(self._drained)  # set when the current connection has ended
        self._fatal: ConnectError | None = None
        self._last_error: str = "no attempt yet"
        self._ever_connected = False
        self._loop = loop
        self._started = False
        self._retry: Timer | None = None  # the next connect attempt, while waiting for it
        self._ended: mqtt.Client | None = None  # the client whose session was last wound up
        self._client: mqtt.Client | None = None
        self._subscribe_mid: int | None = None
        self._sub_waiters: dict[int, threading.Event] = {}  # SUBACKs awaited by subscribe(), by mid
        self._early_subacks: set[int] = set()  # SUBACKs that came before subscribe() waited
        self._sub_lock = threading.Lock()  # guards the two above; never held while calling paho
        self._queue: collections.deque[Outgoing] = collections.deque()
        # by mid, in publish order; None for a send_now() message (its PUBACK is awaited, but
        # nothing is sent again without it)
        self._inflight: dict[int, Outgoing | None] = {}
        self._early_acks: set[int] = set()
        self._drop_streak = 0
        self._refill_due = False  # a _flush is scheduled on the loop
        self._open = False
        #: the durable mirror of the queue and what is in flight (None: memory only)
        self.outbox = outbox
        self._keys: dict[int, int] = {}  # id(message) -> its outbox key, guarded by _lock
        self._outbox_failed = False
        if outbox is not None:
            self._load_outbox(outbox)
        # Serializes every decision to send or queue, so the queue order is the publish order.
        # paho's callbacks never take it (they only take _lock), so holding it across
        # client.publish() cannot deadlock against paho's internal mutex.
        self._send_lock = threading.RLock()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<MqttTransport {self.host}:{self.port} {'tls' if self.tls else 'plain'} {state}>"

    def _tls_context(self, tls: TlsOptions) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.insecure:
            log.warning(
                "TLS VERIFICATION IS OFF for %s:%s: the server's certificate and name are "
                "not checked; anyone on the path can impersonate it",
                self.host,
                self.port,
            )
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _new_client(self, client_id: str) -> mqtt.Client:
        client = (_Client if _PAHO_INTERNALS else mqtt.Client)(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=self.clean_session,
            reconnect_on_failure=False,
            manual_ack=self.ack_when_handled,
        )
        client.max_inflight_messages_set(WINDOW)
        client.user_data_set(self.loop)  # the socket callbacks below are shared: userdata is the loop
        client.on_socket_open = _set_nodelay
        client.on_socket_close = _socket_closed
        client.on_socket_register_write = _wants_write
        client.on_socket_unregister_write = _written
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        if isinstance(client, _Client):
            client.fast_message = self._deliver
        client.on_subscribe = self._handle_subscribe
        client.on_publish = self._handle_publish
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        if self._context is not None:
            client.tls_set_context(self._context)
        return client

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def loop(self) -> IoLoop:
        """The I/O loop that serves this connection."""
        if self._loop is None:
            self._loop = IoLoop.shared()
        return self._loop

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def queued(self) -> int:
        """Messages waiting to be (re)sent."""
        with self._lock:
            return len(self._queue)

    @property
    def unacknowledged(self) -> int:
        """Messages queued or sent and not yet acknowledged by the broker."""
        with self._lock:
            return len(self._queue) + len(self._inflight)

    def start(self, timeout: float = 30.0) -> None:
        """Connect, blocking until connected; raise ConnectError (AuthenticationError) otherwise.

        After the first connection the transport reconnects by itself until :meth:`stop`.
        """
        if self._started:
            raise RuntimeError("transport already started")
        self._started = True
        self.loop.run_blocking(self._attempt)
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.02):
            if self._fatal is not None or time.monotonic() >= deadline:
                self.stop()
                if self._fatal is not None:
                    raise self._fatal
                raise ConnectError(
                    f"could not connect to {self.host}:{self.port} within {timeout:g} s: {self._last_error}"
                )

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Wait (at most ``drain_timeout``) until everything sent is acknowledged, then
        disconnect cleanly."""
        if self._open and self._connected.is_set():
            with self._drained:
                self._drained.wait_for(
                    lambda: not (self._queue or self._inflight) or not self._open, drain_timeout
                )
        self._stopping.set()
        retry = self._retry
        if retry is not None:
            retry.cancel()
        client = self._client
        if client is not None and client.socket() is not None:
            with contextlib.suppress(Exception):  # already gone
                client.disconnect()  # the loop sends DISCONNECT, then paho closes the socket
            if not self._session_over.wait(2.0) and not self.loop.in_loop():
                closed = threading.Event()

                def close() -> None:
                    _close(self.loop, client)
                    closed.set()

                self.loop.call_soon(close)
                closed.wait(2.0)
        self._session_over.set()
        self._connected.clear()
        self._requeue_inflight()
        left = self.queued
        if left:
            log.warning("%s: %d messages were not acknowledged before the disconnect", self.name, left)
            if self.outbox is not None:
                log.info("%s: they wait in the outbox %s for the next start", self.name, self.outbox.path)
        if self.outbox is not None:
            self.outbox.close()

    def _attempt(self) -> None:
        """One connection attempt (on a connector thread: paho's connect blocks)."""
        self._retry = None
        if self._stopping.is_set():
            return
        try:
            client_id, username, password = self._credentials()
            client = self._new_client(client_id)
            client.username_pw_set(username, password)
        except Exception as exc:  # the user's credentials callback, or a bad client id
            self._last_error = f"credentials: {type(exc).__name__}: {exc}"
            log.error("%s: %s", self.name, self._last_error)
            self._schedule_retry()
            return
        self._client = client
        try:
            client.connect(self.host, self.port, self.keepalive)
        except ssl.SSLCertVerificationError as exc:
            self._last_error = f"TLS certificate verification failed: {exc.verify_message}"
            log.error("%s:%s: %s", self.host, self.port, self._last_error)
            if not self._ever_connected:
                self._fatal = ConnectError(f"{self.host}:{self.port}: {self._last_error}")
                return
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.info("connect to %s:%s failed: %s", self.host, self.port, self._last_error)
        else:
            sock = client.socket()
            if sock is None:
                self._schedule_retry()
                return
            self._session_over.clear()
            if self._stopping.is_set():
                with contextlib.suppress(OSError):
                    sock.close()
                self._session_over.set()
                return
            channel = Channel(client, sock)
            self.loop.attach(channel)
            self._keep_alive(channel)
            return
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        if self._stopping.is_set() or self._fatal is not None:
            return
        delay = self.backoff.next_delay()
        log.info("reconnecting to %s:%s in %.2f s", self.host, self.port, delay)
        loop = self.loop
        self._retry = loop.call_later(delay, lambda: loop.run_blocking(self._attempt))

    def _keep_alive(self, channel: Channel) -> None:
        """paho's keep-alive (a PINGREQ when the connection is quiet, a dead one closed) runs in
        ``loop_misc``: call it when paho's next deadline falls, for as long as this client is
        current. One call per keep-alive period: 10,000 idle connections cost next to nothing."""
        keepalive = float(self.keepalive or 60)
        client: mqtt.Client = channel.client

        def misc() -> None:
            if client is not self._client or client.socket() is None:
                return
            with channel.lock:
                client.loop_misc()
            due = _keepalive_due(client, keepalive)
            delay = keepalive / 4 if due is None else max(due - time.monotonic(), 0.5)
            self.loop.call_later(delay, misc)

        self.loop.call_later(keepalive / 2, misc)

    def _session_ended(self, client: mqtt.Client) -> None:
        """After a connection ended (on the loop, outside paho's callbacks): unacknowledged
        messages go back to the queue, and the next attempt is scheduled."""
        if client is self._ended or client is not self._client:
            return
        self._ended = client
        self._requeue_inflight()
        self._schedule_retry()

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 5.0) -> bool:
        """Add a subscription, made again after every reconnect. If connected, it is made now and
        this waits (at most ``timeout`` s) for the broker's SUBACK, so that what is published
        after it returns is delivered; returns whether the broker confirmed it."""
        with self._send_lock:
            if topic_filter not in self.subscriptions:
                self.subscriptions.append(topic_filter)
            if qos != 1:
                self.subscription_qos[topic_filter] = qos
            client = self._client
            if client is None:
                return False
            result, mid = client.subscribe(topic_filter, qos)  # no lock of ours held: paho takes its own
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:  # not connected: the next connect makes it
            return False
        done = threading.Event()
        with self._sub_lock:
            if mid in self._early_subacks:  # the SUBACK beat us here
                self._early_subacks.discard(mid)
                return True
            self._sub_waiters[mid] = done
        confirmed = done.wait(timeout)
        with self._sub_lock:
            self._sub_waiters.pop(mid, None)
        return confirmed

    def unsubscribe(self, topic_filter: str) -> None:
        """Drop a subscription added with :meth:`subscribe` (a no-op for one never made)."""
        with self._send_lock:
            if topic_filter not in self.subscriptions:
                return
            self.subscriptions.remove(topic_filter)
            self.subscription_qos.pop(topic_filter, None)
            client = self._client
            if client is not None and self._connected.is_set():
                client.unsubscribe(topic_filter)

    # -- paho callbacks (network thread) -------------------------------------------------------
    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._last_error = f"broker refused the connection: {reason}"
            if reason.value in _AUTH_REFUSED:
                self._fatal = AuthenticationError(
                    f"{self.host}:{self.port} refused the credentials ({reason}); not retrying"
                )
                log.error("%s", self._fatal)
            else:
                log.warning("%s:%s: %s", self.host, self.port, self._last_error)
            return
        self._ever_connected = True
        self.backoff.reset()
        if self.subscriptions:
            # Ready only once the broker confirms: a message sent to us before that would be lost.
            _, self._subscribe_mid = client.subscribe(
                [(f, self.subscription_qos.get(f, 1)) for f in self.subscriptions]
            )
        else:
            self._ready()

    def _handle_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        if mid != self._subscribe_mid:
            with self._sub_lock:
                waiter = self._sub_waiters.get(mid)
                if waiter is None and len(self._early_subacks) < 64:
                    self._early_subacks.add(mid)
            if waiter is not None:
                waiter.set()
        if mid != self._subscribe_mid or client is not self._client:
            return
        for topic_filter, reason in zip(self.subscriptions, reasons, strict=False):
            if getattr(reason, "is_failure", False):
                log.error(
                    "%s:%s refused the subscription to %s: %s", self.host, self.port, topic_filter, reason
                )
        self._ready()

    def _ready(self) -> None:
        self._connected.set()
        log.info("connected to %s:%s", self.host, self.port)
        if self._drop_streak:
            log.warning(
                "%s: %d messages were dropped while offline (queue limit %d)",
                self.name,
                self._drop_streak,
                self.offline_limit,
            )
            self._drop_streak = 0
        if not self.gated:
            self.open_gate()
        if self.on_connect is not None:
            try:
                self.on_connect()
            except Exception:
                log.exception("on_connect callback raised")

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        with self._lock:
            self._open = False
        self._session_over.set()
        if not self._stopping.is_set():
            self.loop.call_soon(lambda: self._session_ended(client))
        if was and not self._stopping.is_set():
            log.warning("disconnected from %s:%s: %s", self.host, self.port, reason)
        if was and self.on_disconnect is not None:
            try:
                self.on_disconnect()
            except Exception:
                log.exception("on_disconnect callback raised")

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._deliver(client, message.topic, bytes(message.payload), message.qos, message.mid)

    def _deliver(self, client: mqtt.Client, topic: str, payload: bytes, qos: int, mid: int) -> None:
        ack: Ack = _already_acked
        if self.ack_when_handled and qos > 0:
            ack = _Ack((client, mid, qos))
        if self.on_message is None:
            ack()
            return
        try:
            self.on_message(topic, payload, ack)
        except Exception:
            log.exception("handling a message on %s failed", topic)
            ack()

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        with self._lock:
            if client is not self._client:
                return
            if mid not in self._inflight:
                self._early_acks.add(mid)  # acknowledged before publish() recorded it
                return
            acked = self._inflight.pop(mid)
            if not self._inflight and not self._queue:
                self._drained.notify_all()
            refill = bool(self._queue) and self._open and not self._refill_due
            if refill:
                self._refill_due = True
        if refill:  # not here: paho holds its lock, and publishing takes _send_lock
            self.loop.call_soon(self._flush)
        if acked is not None and self.outbox is not None:
            self._forget([acked])

    def _requeue_inflight(self) -> None:
        """After a connection ends: unacknowledged messages go back to the front, in order."""
        with self._send_lock, self._lock:
            pending = [m for m in self._inflight.values() if m is not None]
            self._inflight.clear()
            self._early_acks.clear()
            self._queue.extendleft(reversed(pending))
            self._open = False
            self._drained.notify_all()
            dropped = [] if self._stopping.is_set() else self._trim()
        self._report_drops(dropped)

    # -- publishing ----------------------------------------------------------------------------
    def open_gate(self) -> None:
        """Send what waits in the queue, then publish directly until the next disconnect."""
        with self._send_lock:
            with self._lock:
                if not self._connected.is_set():
                    return
                self._open = True
                log.debug("%s: gate open, sending %d queued messages", self.name, len(self._queue))
            self._flush()

    def publish(self, message: Outgoing) -> None:
        """Send one message, or queue it (in order) while disconnected or gated."""
        if self.outbox is not None:
            message = self._keep(message)
        with self._send_lock:
            # Only holders of _send_lock touch the queue. _open may turn False under us (a
            # disconnect); paho then refuses the publish and _send queues the message.
            if self._open and not self._queue and (not message.qos or len(self._inflight) < WINDOW):
                self._send(message)
                return
            with self._lock:
                self._queue.append(message)
                # connected, the queue holds what waits for room in the window: it drains as
                # acknowledgements come, and only an outage bounds it to offline_limit
                dropped = [] if self._open else self._trim()
        if dropped:
            self._report_drops(dropped)

    def send_now(self, message: Outgoing) -> bool:
        """Publish past the gate (for the request that opens it); False when not connected."""
        if not self._connected.is_set():
            return False
        client = self._client
        if client is None:
            return False
        info = client.publish(message.topic, message.payload, message.qos, message.retain)
        if info.rc != _SUCCESS:
            return False
        if message.qos:  # nothing waits for its PUBACK: when it comes, it is not an early one
            with self._lock:
                if info.mid in self._early_acks:
                    self._early_acks.discard(info.mid)
                elif client is self._client:
                    self._inflight[info.mid] = None
        return True

    def _send(self, message: Outgoing, *, from_queue: bool = False) -> bool:
        client = self._client
        if client is not None:
            info = client.publish(message.topic, message.payload, message.qos, message.retain)
            rc = info.rc
            if rc == _SUCCESS:
                if message.qos:
                    mid = info.mid
                    with self._lock:
                        if mid in self._early_acks:
                            self._early_acks.discard(mid)
                            done = True
                        else:
                            done = client is not self._client
                            if not done:
                                self._inflight[mid] = message
                    if done:
                        self._forget([message])
                else:
                    self._forget([message])
                return True
            if rc != _NO_CONN:
                log.error("publish to %s failed: %s; message dropped", message.topic, mqtt.error_string(rc))
                self._forget([message])
                with self._lock:
                    self.dropped += 1
                if self.on_drop is not None:
                    self.on_drop(message)
                return True
        with self._lock:  # this client is gone: send it on the next one, keeping the order
            if from_queue:
                self._queue.appendleft(message)
            else:
                self._queue.append(message)
        return False

    def _flush(self) -> None:
        with self._send_lock:
            while True:
                with self._lock:
                    self._refill_due = False
                    if not self._open or not self._queue:
                        return
                    if self._queue[0].qos and len(self._inflight) >= WINDOW:
                        return  # the next acknowledgement calls _flush again
                    message = self._queue.popleft()
                if not self._send(message, from_queue=True):
                    return

    def _trim(self) -> list[Outgoing]:
        dropped = []
        while len(self._queue) > self.offline_limit:
            dropped.append(self._queue.popleft())
            self.dropped += 1
        return dropped

    def _report_drops(self, dropped: list[Outgoing]) -> None:
        self._forget(dropped)
        for message in dropped:
            self._drop_streak += 1
            if self._drop_streak == 1:  # once per outage; the total is logged on reconnect
                log.warning(
                    "%s: offline queue full (%d messages): dropping the oldest (counted in .dropped)",
                    self.name,
                    self.offline_limit,
                )
            if self.on_drop is not None:
                self.on_drop(message)

    # -- the outbox ----------------------------------------------------------------------------
    def _load_outbox(self, outbox: SqliteOutbox) -> None:
        """What a previous process left goes first in the queue (oldest first)."""
        try:
            left = outbox.load()
        except OSError as exc:  # OutboxError: the file went bad after it was opened
            log.error("%s: outbox %s: %s; sending from memory only", self.name, outbox.path, exc)
            self._outbox_failed = True
            return
        for key, message in left:
            self._keys[id(message)] = key
            self._queue.append(message)
        if left:
            log.info("%s: %d messages from the outbox wait to be sent", self.name, len(left))
        dropped = self._trim()
        self.dropped += len(outbox.dropped_at_load)
        if dropped or outbox.dropped_at_load:
            log.warning(
                "%s: the outbox held more than the queue limit (%d): %d oldest dropped",
                self.name,
                self.offline_limit,
                len(dropped) + len(outbox.dropped_at_load),
            )
        self._forget(dropped)

    def _keep(self, message: Outgoing) -> Outgoing:
        """Write ``message`` to the outbox; the copy returned is the one to queue (its identity
        is its key's)."""
        outbox = self.outbox
        assert outbox is not None
        message = attrs.evolve(message)
        try:
            key, _trimmed = outbox.add(message)  # its limit is above the queue's: _trim decides
        except (OSError, ValueError) as exc:  # OutboxError, OutboxClosed
            if not self._outbox_failed:
                log.error("%s: outbox %s: %s; sending from memory only", self.name, outbox.path, exc)
                self._outbox_failed = True
            return message
        with self._lock:
            self._keys[id(message)] = key
        return message

    def _forget(self, messages: Iterable[Outgoing]) -> None:
        """These are delivered (or dropped): out of the outbox."""
        if self.outbox is None:
            return
        with self._lock:
            keys = [k for k in (self._keys.pop(id(m), None) for m in messages) if k is not None]
        if keys:
            try:
                self.outbox.remove_many(keys)
            except (OSError, ValueError) as exc:  # OutboxError, OutboxClosed
                log.error("%s: outbox %s: %s", self.name, self.outbox.path, exc)


def _keepalive_due(client: mqtt.Client, keepalive: float) -> float | None:
    """When paho's ``loop_misc`` next has something to do (its clock is ``time.monotonic``):
    a ping when nothing went either way for ``keepalive`` s, or giving up on an unanswered one.
    None where paho keeps its times under other names."""
    last_in = getattr(client, "_last_bytes_received", getattr(client, "_last_msg_in", None))
    last_out = getattr(client, "_last_msg_out", None)
    if not isinstance(last_in, float) or not isinstance(last_out, float):
        return None
    due = min(last_in, last_out) + keepalive
    ping_t = getattr(client, "_ping_t", 0)
    if isinstance(ping_t, float) and ping_t > 0:
        due = min(due, ping_t + keepalive)
    return due


def _close(loop: IoLoop, client: mqtt.Client) -> None:
    """Close ``client``'s socket at once (a clean disconnect did not finish)."""
    sock = client.socket()
    if sock is not None:
        loop.detach(sock)
        with contextlib.suppress(OSError):
            sock.close()


def _socket_closed(client: mqtt.Client, loop: IoLoop, sock: Any) -> None:
    loop.detach(sock)


def _wants_write(client: mqtt.Client, loop: IoLoop, sock: Any) -> None:
    loop.want_write(sock, True)


def _written(client: mqtt.Client, loop: IoLoop, sock: Any) -> None:
    loop.want_write(sock, False)


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not a TCP socket (websockets, unix)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
