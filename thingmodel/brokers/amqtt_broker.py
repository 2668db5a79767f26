"""amqtt's broker, changed to behave like the vendors' brokers, and the policy hooks applied.

Written against amqtt 0.11.1 (:func:`check_amqtt` refuses to start on anything else, or when a
method patched here has changed its parameters). Every change is one overridden method, and why:

- ``stream_connected``: the first packet is read here (``handshake.py``), not by amqtt, so that
  MQTT 3.1 is served (amqtt accepts only "MQTT"/4), MQTT 5 gets CONNACK 1, a CONNECT that never
  comes times out (amqtt waits forever), a bad first packet is one rate-limited line (amqtt logs a
  traceback), and the policy authenticates (amqtt's auth plugins are not consulted). On a TLS
  listener the handshake is run here too (``tls.py``; amqtt's listener is plain TCP), so that a
  failed one is one rate-limited line, and the client certificate reaches ``ClientInfo``.
- take-over (MQTT-3.1.4-2): amqtt forgets the older session of a reused client id but leaves its
  connection open and deaf; here the older connection is closed first (its will is published, as
  mosquitto does) and the new one gets the session once the older one has ended.
- a clean session ends with its connection (amqtt keeps it, subscribed, and queues every message
  for it forever).
- ``_topic_filtering``: ``may_publish`` / ``may_subscribe`` of the policy.
- ``_retain_broadcast_message``: an offline persistent session queues at most
  :data:`OFFLINE_QUEUE_LIMIT` messages, dropping the oldest (amqtt: no limit).
- ``_publish_session_retained_messages``: what was queued for an offline session goes out with
  the retain flag clear, as MQTT-3.3.1-9 requires (amqtt sets it).
- ``_Handler.mqtt_publish``: a delivery that is not acknowledged in time is one rate-limited
  warning (amqtt logs a traceback for each).
- the message path (``_Handler._reader_loop``, ``PolicyBroker._route``): amqtt spends a dozen
  tasks per message (a ``wait_for`` per packet read, a task per packet handled, per plugin event,
  per broadcast and per delivery, each delivery waiting for its PUBACK with a timer), re-escapes
  and compiles every filter's regex for every message, and caps the embedded broker at a few
  hundred messages a second. Here a connection's socket is read in chunks and cut into packets;
  a QoS 0/1 PUBLISH is checked and routed at once to every matching subscriber (filters
  compiled once, matched as the spec says: amqtt's ``a/#`` also matched ``ab``) and the PUBACKs
  of a chunk go out in one write; a subscriber gets at most :data:`INFLIGHT_WINDOW` QoS 1
  messages unacknowledged, the next waiting in order (amqtt sent all at once and gave each up 5 s
  later: a subscriber that acknowledges only once it has stored, as the local cloud does, lost
  them and the log filled with timeouts; one not acknowledged within :data:`ACK_TIMEOUT` is
  still given up, with the same rate-limited warning). What is in flight stays in the session's
  ``inflight_out`` and what waits moves to its offline queue when the connection ends, so a
  persistent session gets both after its reconnect. Other packets (and QoS 2) are amqtt's, with
  the per-message plugin events left out (nothing here listens to them: ``$SYS`` is off).
- ``_Handler.handle_read_timeout``: a client silent for 1.5 times its keep-alive is disconnected,
  as MQTT-3.1.2-24 requires (amqtt only notes it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import logging
import math
import ssl
from collections.abc import Callable
from typing import Any

import amqtt
from amqtt.adapters import BufferReader, StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Action, Broker, RetainedApplicationMessage
from amqtt.errors import MQTTError
from amqtt.events import BrokerEvents, MQTTEvents
from amqtt.mqtt import packet_class
from amqtt.mqtt.packet import (
    CONNACK,
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    RESERVED_0,
    RESERVED_15,
    SUBACK,
    SUBSCRIBE,
    UNSUBACK,
    UNSUBSCRIBE,
    MQTTFixedHeader,
)
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.puback import PubackPacket
from amqtt.session import OutgoingApplicationMessage, Session
from amqtt.utils import gen_client_id

from ..errors import BrokerError
from ..protocol.mqttwire import MalformedHeader, remaining_length
from ..protocol.mqttwire import frame as _frame
from ..protocol.topics import validate_filter
from . import handshake, tls
from .handshake import Connect, Refusal, Will
from .policy import BrokerPolicy, ClientInfo
from .ratelimit import RateLimitedLog

log = logging.getLogger("thingmodel.brokers")

AMQTT_VERSION = "0.11.1"
#: how long a new connection waits for the older one with its client id to end
TAKEOVER_TIMEOUT = 5.0
#: messages queued for one offline persistent session; past that the oldest is dropped (large:
#: like our mosquitto configuration, the broker should not be what loses a message)
OFFLINE_QUEUE_LIMIT = 100_000
#: QoS 1 messages sent to one client and not yet acknowledged; the next wait, in order
INFLIGHT_WINDOW = 500
#: seconds a client has to acknowledge a QoS 1 message; then it is given up (amqtt's 5 s)
ACK_TIMEOUT = 5.0
_READ_SIZE = 65536
_PUBACK = b"\x40\x02"

# The amqtt methods these changes override or call, with their parameters after self.
_PATCHED: dict[type[Any], dict[str, tuple[str, ...]]] = {
    Broker: {
        "stream_connected": ("reader", "writer", "listener_name"),
        "_topic_filtering": ("session", "topic", "action"),
        "_retain_broadcast_message": ("broadcast", "qos", "target_session"),
        "_client_message_loop": ("client_session", "handler"),
        "_handle_disconnect": ("client_session", "handler", "disconnect_waiter"),
        "_delete_session": ("client_id",),
        "_stop_handler": ("handler",),
        "_publish_session_retained_messages": ("session",),
        "_get_handler": ("session",),
        "_publish_retained_messages_for_subscription": ("subscription", "session"),
        "_run_broadcast": ("running_tasks",),
        "retain_message": ("source_session", "topic_name", "data", "qos"),
    },
    BrokerProtocolHandler: {
        "mqtt_publish": ("topic", "data", "qos", "retain", "ack_timeout"),
        "handle_read_timeout": (),
        "attach": ("session", "reader", "writer"),
        "start": (),
        "mqtt_connack_authorize": ("authorize",),
        "_reader_loop": (),
        "handle_puback": ("puback",),
        "handle_connection_closed": (),
        "stop": (),
    },
}
_BROKER_STATE = ("_sessions", "_subscriptions", "_servers", "_loop", "plugins_manager")


def check_amqtt() -> None:
    """Raise BrokerError unless amqtt is the version, with the methods, these changes expect."""
    found = getattr(amqtt, "__version__", "unknown")
    if found != AMQTT_VERSION:
        raise BrokerError(
            f"the embedded broker is written for amqtt {AMQTT_VERSION}, found {found}: "
            f"pip install 'amqtt=={AMQTT_VERSION}'"
        )
    for cls, methods in _PATCHED.items():
        for name, parameters in methods.items():
            method = getattr(cls, name, None)
            if method is None or tuple(inspect.signature(method).parameters)[1:] != parameters:
                raise BrokerError(
                    f"amqtt's {cls.__name__}.{name} is not the one thingmodel/brokers/amqtt_broker.py "
                    f"changes (expected parameters {parameters})"
                )
    if "self._disconnect_waiter" not in inspect.getsource(BrokerProtocolHandler.__init__):
        raise BrokerError("amqtt's BrokerProtocolHandler has no _disconnect_waiter, which the broker uses")


class _Connection:
    """One served connection: who it is, its socket, and whether it has ended."""

    __slots__ = ("client", "ended", "writer")

    def __init__(self, client: ClientInfo, writer: asyncio.StreamWriter) -> None:
        self.client = client
        self.writer = writer
        self.ended = asyncio.Event()


class PolicyBroker(Broker):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's Broker serving MQTT 3.1 and 3.1.1 under a :class:`BrokerPolicy`."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        policy: BrokerPolicy,
        notes: RateLimitedLog,
        connect_timeout: float,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(config)
        missing = [name for name in _BROKER_STATE if not hasattr(self, name)]
        if missing:
            raise BrokerError(f"amqtt's Broker has no {', '.join(missing)}; the embedded broker needs them")
        self.policy = policy
        self.notes = notes
        self.connect_timeout = connect_timeout
        #: every connection's TLS handshake is run with it (the listener itself is plain TCP)
        self.tls_context = tls_context
        self._live: dict[str, _Connection] = {}
        self._admission = asyncio.Lock()  # one take-over and session hand-out at a time

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        address = f"{peer[0]}:{peer[1]}"
        if self.tls_context is not None:  # first, before anything reads what the client sent
            secured = await self._start_tls(writer, address)
            if secured is None:
                return
            writer = secured
        server = self._servers.get(listener_name)
        if server is not None:
            await server.acquire_connection()
        try:
            await self._serve_connection(reader, writer, address)
        except Exception as exc:  # one line, and the listener carries on
            self.notes.log("connection error", logging.WARNING, "connection from %s ended: %r", address, exc)
            log.debug("connection from %s ended on an error", address, exc_info=True)
        finally:
            if server is not None:
                server.release_connection()
            if not writer.is_closing():
                writer.close()

    async def _start_tls(self, writer: asyncio.StreamWriter, address: str) -> asyncio.StreamWriter | None:
        """The writer once the TLS handshake is done; None when it failed (logged, connection closed)."""
        assert self.tls_context is not None
        kind, reason = "TLS handshake", None
        try:
            return await tls.start_tls(writer, self.tls_context, self.connect_timeout)
        except ssl.SSLError as exc:
            reason = tls.handshake_failure(exc)
        except asyncio.TimeoutError:
            kind, reason = "TLS handshake timeout", f"no TLS handshake within {self.connect_timeout:g} s"
        except ConnectionError:  # a port probe (wait_listening, a health check): nothing to report
            log.debug("connection from %s closed before its TLS handshake ended", address)
        except OSError as exc:
            reason = repr(exc)
        if reason is not None:
            self.notes.log(kind, logging.WARNING, "refused TLS connection from %s: %s", address, reason)
        with contextlib.suppress(Exception):
            writer.transport.abort()
        return None

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str
    ) -> None:
        first = await self._read_connect(reader, address)
        if first is None:
            return
        if isinstance(first, Refusal):
            if first.return_code is not None:
                writer.write(handshake.connack(first.return_code))
            self.notes.log(
                first.kind, logging.WARNING, "refused connection from %s: %s", address, first.reason
            )
            return
        ssl_object = writer.get_extra_info("ssl_object")
        client = ClientInfo(
            client_id=first.client_id or gen_client_id(),
            username=first.username,
            password=first.password,
            address=address,
            protocol=first.protocol,
            certificate=ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None,
        )
        reason, _ = self._consult("authenticate", "a refusal", "the broker policy failed", client)
        if reason is not None:
            writer.write(handshake.connack(handshake.NOT_AUTHORIZED))
            self.notes.log(
                "not authorized",
                logging.WARNING,
                "refused client %r from %s: not authorized: %s",
                client.client_id,
                address,
                reason,
            )
            return
        will = first.will
        if will is not None and not self._may(Action.PUBLISH, client, will.topic, "its will, dropped"):
            will = None
        await self._serve_session(first, client, will, reader, writer)

    async def _read_connect(self, reader: asyncio.StreamReader, address: str) -> Connect | Refusal | None:
        """The first packet decoded, or None when the peer went away or timed out (logged)."""
        started = False

        async def read() -> Connect | Refusal:
            nonlocal started
            first = await reader.readexactly(1)
            started = True
            refusal = handshake.check_first_byte(first[0])
            if refusal is not None:
                return refusal
            encoded = b""
            while (length := handshake.remaining_length(encoded)) is None:
                encoded += await reader.readexactly(1)
            if isinstance(length, Refusal):
                return length
            return handshake.decode_connect(await reader.readexactly(length))

        try:
            return await asyncio.wait_for(read(), self.connect_timeout)
        except asyncio.TimeoutError:
            self.notes.log(
                "CONNECT timeout",
                logging.WARNING,
                "refused connection from %s: no CONNECT within %g s",
                address,
                self.connect_timeout,
            )
        except (asyncio.IncompleteReadError, ConnectionError):
            if started:
                self.notes.log(
                    "closed early", logging.WARNING, "connection from %s closed inside its CONNECT", address
                )
            else:  # a port probe (wait_listening, a health check): nothing to report
                log.debug("connection from %s closed before sending anything", address)
        return None

    async def _serve_session(
        self,
        connect: Connect,
        client: ClientInfo,
        will: Will | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        async with self._admission:
            await self._take_over(client)
            session = await self._open_session(connect, client, will, writer)
            handler = _Handler(self.plugins_manager, loop=self._loop, notes=self.notes)
            handler.attach(session, StreamReaderAdapter(reader), StreamWriterAdapter(writer))
            self._sessions[client.client_id] = (session, handler)
            connection = _Connection(client, writer)
            self._live[client.client_id] = connection
        try:
            # In place before the CONNACK, so that nothing published after it is missed; nothing
            # since the registration above yields before the CONNACK is written, so no PUBLISH
            # can go out ahead of it.
            implicit = self._subscribe_implicitly(client, session)
            await handler.mqtt_connack_authorize(True)
            self._tell("connected", client)
            await self.plugins_manager.fire_event(BrokerEvents.CLIENT_CONNECTED, client_id=client.client_id)
            await handler.start()
            await self._publish_session_retained_messages(session)
            for subscription in implicit:
                await self._publish_retained_messages_for_subscription(subscription, session)
            await self._client_message_loop(session, handler)
        finally:
            try:
                await self._close_session(connection, session, handler)
            finally:
                connection.ended.set()
                self._tell("disconnected", client)

    async def _take_over(self, client: ClientInfo) -> None:
        """Close the connection already serving this client id, and wait until it has ended."""
        older = self._live.get(client.client_id)
        if older is None:
            return
        self.notes.log(  # two devices sharing a client id take each other over without end
            "take-over",
            logging.INFO,
            "client %r connected from %s while connected from %s: closing the older connection",
            client.client_id,
            client.address,
            older.client.address,
        )
        older.writer.transport.abort()
        try:
            await asyncio.wait_for(older.ended.wait(), TAKEOVER_TIMEOUT)
        except asyncio.TimeoutError:
            self.notes.log(
                "take-over timeout",
                logging.WARNING,
                "client %r: its older connection did not end within %g s; its session is dropped",
                client.client_id,
                TAKEOVER_TIMEOUT,
            )
            self._live.pop(client.client_id, None)
            await self._delete_session(client.client_id)

    async def _open_session(
        self, connect: Connect, client: ClientInfo, will: Will | None, writer: asyncio.StreamWriter
    ) -> Session:
        """The session this CONNECT gets: the stored one (clean session 0) or a new one."""
        existing = self._sessions.get(client.client_id)
        if existing is not None and not connect.clean_session:
            session, present = existing[0], True
        else:
            if existing is not None:
                await self._delete_session(client.client_id)
            session, present = Session(), False
        peer = writer.get_extra_info("peername") or ("?", 0)
        session.client_id = client.client_id
        session.clean_session = connect.clean_session
        session.will_flag = will is not None
        session.will_topic = will.topic if will else None
        session.will_message = will.message if will else None
        session.will_qos = will.qos if will else None
        session.will_retain = will.retain if will else None
        session.username = client.username
        session.password = client.password
        session.remote_address, session.remote_port = peer[0], peer[1]
        # amqtt uses it as the read timeout (see _Handler.handle_read_timeout)
        session.keep_alive = math.ceil(connect.keep_alive * 1.5)
        session.parent = 1 if present and connect.protocol == 4 else 0  # MQTT 3.1 has no session-present
        session.transitions.connect()
        return session

    def _subscribe_implicitly(self, client: ClientInfo, session: Session) -> list[tuple[str, int]]:
        """Subscribe the client to what the policy says, as IoTDA does for its devices."""
        wanted, _ = self._consult("implicit_subscriptions", "no subscriptions", [], client)
        try:
            entries = list(wanted or ())
        except Exception as exc:
            self._policy_failed("implicit_subscriptions", exc, "no subscriptions")
            entries = []
        granted: list[tuple[str, int]] = []
        for entry in entries:
            try:
                topic_filter, qos = entry
                if not isinstance(topic_filter, str) or qos not in (0, 1, 2):
                    raise ValueError("expected (topic filter, QoS 0, 1 or 2)")
                validate_filter(topic_filter)
            except (TypeError, ValueError) as exc:
                self.notes.log(
                    "policy implicit_subscriptions",
                    logging.ERROR,
                    "broker policy gave client %r the implicit subscription %r: %s; skipped",
                    client.client_id,
                    entry,
                    exc,
                )
                continue
            subscribers = self._subscriptions.setdefault(topic_filter, [])
            subscribers[:] = [(s, q) for s, q in subscribers if s.client_id != session.client_id]
            subscribers.append((session, qos))
            granted.append((topic_filter, qos))
        return granted

    async def _close_session(self, connection: _Connection, session: Session, handler: _Handler) -> None:
        if session.transitions.is_connected():
            # The message loop ended without amqtt's disconnect handling (a protocol error, an
            # error here): end it the same way, will included.
            ended = self._loop.create_future()
            ended.set_result(None)
            await self._handle_disconnect(session, handler, ended)
        else:
            await self._stop_handler(handler)
        client_id = connection.client.client_id
        if self._live.get(client_id) is connection:
            del self._live[client_id]
            if session.clean_session and self._sessions.get(client_id, (None, None))[0] is session:
                await self._delete_session(client_id)

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        connection = self._live.get(session.client_id)
        if connection is None:
            return False
        what = "message dropped" if action == Action.PUBLISH else "SUBACK 0x80"
        return self._may(action, connection.client, topic, what)

    def _may(self, action: Action, client: ClientInfo, topic: str, what: str) -> bool:
        method = "may_publish" if action == Action.PUBLISH else "may_subscribe"
        allowed, answered = self._consult(method, "a refusal", False, client, topic)
        if not allowed and answered:
            verb = "publish to" if action == Action.PUBLISH else "subscribe to"
            self.notes.log(
                f"{method} refused",
                logging.WARNING,
                "client %r may not %s %r: %s",
                client.client_id,
                verb,
                topic,
                what,
            )
        return bool(allowed)

    def _consult(self, method: str, meaning: str, fallback: Any, *args: Any) -> tuple[Any, bool]:
        """The policy's answer and True; or, if it raises, ``fallback`` and False (logged)."""
        try:
            return getattr(self.policy, method)(*args), True
        except Exception as exc:
            self._policy_failed(method, exc, meaning)
            return fallback, False

    def _tell(self, method: str, client: ClientInfo) -> None:
        """Tell the policy of a connection's start or end (a policy without the hook is not told)."""
        if hasattr(self.policy, method):
            self._consult(method, "nothing", None, client)

    def _policy_failed(self, method: str, exc: Exception, meaning: str) -> None:
        self.notes.log(
            f"policy {method}",
            logging.ERROR,
            "broker policy %s.%s raised %r; treated as %s",
            type(self.policy).__name__,
            method,
            exc,
            meaning,
            exc_info=True,
        )

    async def close(self) -> None:
        """amqtt's shutdown, then the listening sockets it may leave open if it stops early."""
        try:
            await self.shutdown()
        except (Exception, asyncio.CancelledError) as exc:  # the caller is never cancelled itself
            log.debug("amqtt's shutdown stopped early: %r", exc)
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                await server.close_instance()

    # -- delivery ----------------------------------------------------------------------------
    def _publish_from(self, session: Session, topic: str, data: bytes, qos: int, retain: bool) -> bool:
        """A client's PUBLISH, as amqtt's ``_handle_message_delivery`` takes it, routed at once;
        False when the connection is to be closed for it."""
        if not topic or "#" in topic or "+" in topic:
            self.logger.warning(
                "[MQTT-4.7.3-1, MQTT-3.3.2-2] - %s invalid TOPIC %r in PUBLISH, closing connection",
                session.client_id,
                topic,
            )
            return False
        connection = self._live.get(session.client_id)
        if connection is None or not self._may(Action.PUBLISH, connection.client, topic, "message dropped"):
            return True
        self._route(session, topic, data, None)
        if retain:
            self.retain_message(session, topic, data, qos)
        return True

    def _route(self, source: Session | None, topic: str, data: bytes, force_qos: int | None) -> None:
        """To every matching subscription (amqtt's ``_run_broadcast``, without a task each): at
        the subscription's QoS unless ``force_qos``; queued for a session that is offline."""
        dollar = topic.startswith("$")
        levels = topic.split("/")
        for topic_filter, subscribers in self._subscriptions.items():
            if not subscribers or (dollar and topic_filter.startswith(("+", "#"))):
                continue
            if not _matcher(topic_filter)(topic, levels):
                continue
            for target, subscribed_qos in subscribers:
                qos = subscribed_qos if force_qos is None else force_qos
                if target.transitions.state != "connected":
                    self._queue_offline(source, topic, data, qos, target)
                    continue
                handler = self._get_handler(target)
                if isinstance(handler, _Handler):
                    handler.deliver(topic, data, qos)
                elif handler is not None:
                    self._spawn(handler.mqtt_publish(topic, data, qos, retain=False))

    def _spawn(self, delivery: Any) -> None:
        """Run an amqtt delivery as a task, which amqtt's broadcast loop reaps."""
        self._tasks_queue.append(asyncio.ensure_future(delivery))

    async def _run_broadcast(self, running_tasks: Any) -> None:
        # What still comes through amqtt's broadcast queue (wills, QoS 2): routed the same way.
        broadcast = await self._broadcast_queue.get()
        self._route(broadcast["session"], broadcast["topic"], broadcast["data"], broadcast.get("qos"))

    async def _publish_session_retained_messages(self, session: Session) -> None:
        handler = self._get_handler(session)
        while handler is not None and not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            if isinstance(handler, _Handler):  # in queue order, behind what is redelivered
                handler.deliver(queued.topic, queued.data, queued.qos or 0)
            else:
                await handler.mqtt_publish(queued.topic, queued.data, queued.qos, retain=False)

    async def _retain_broadcast_message(
        self, broadcast: dict[str, Any], qos: int, target_session: Session
    ) -> None:
        self._queue_offline(broadcast["session"], broadcast["topic"], broadcast["data"], qos, target_session)

    def _queue_offline(
        self, source: Session | None, topic: str, data: bytes, qos: int | None, target: Session
    ) -> None:
        queue = target.retained_messages
        if queue.qsize() >= OFFLINE_QUEUE_LIMIT:
            queue.get_nowait()
            self.notes.log(
                "offline queue full",
                logging.WARNING,
                "client %r is offline with %d messages queued: the oldest is dropped",
                target.client_id,
                OFFLINE_QUEUE_LIMIT,
            )
        queue.put_nowait(RetainedApplicationMessage(source, topic, data, qos))


@functools.lru_cache(maxsize=4096)
def _matcher(topic_filter: str) -> Callable[[str, list[str]], bool]:
    """Whether a topic (and its levels) matches the filter, ``$`` topics aside; made once per
    filter: the level count, then the levels that are not ``+``."""
    if "+" not in topic_filter and "#" not in topic_filter:
        return lambda topic, levels: topic == topic_filter
    fixed = topic_filter.split("/")
    anything_below = fixed[-1] == "#"  # "a/#" is "a" and everything under it; "#" is everything
    if anything_below:
        fixed.pop()
    count = len(fixed)
    literal = tuple((index, level) for index, level in enumerate(fixed) if level != "+")

    def matches(topic: str, levels: list[str]) -> bool:
        if len(levels) < count if anything_below else len(levels) != count:
            return False
        return all(levels[index] == level for index, level in literal)

    return matches


def _publish_packet(topic: str, data: bytes, qos: int, packet_id: int) -> bytes:
    name = topic.encode()
    length = 2 + len(name) + (2 if qos else 0) + len(data)
    header = bytes((0x30 | qos << 1,)) + remaining_length(length)
    ident = packet_id.to_bytes(2, "big") if qos else b""
    return b"".join((header, len(name).to_bytes(2, "big"), name, ident, data))


_HANDLE = {
    CONNACK: "handle_connack",
    SUBSCRIBE: "handle_subscribe",
    UNSUBSCRIBE: "handle_unsubscribe",
    SUBACK: "handle_suback",
    UNSUBACK: "handle_unsuback",
    PUBACK: "handle_puback",
    PUBREC: "handle_pubrec",
    PUBREL: "handle_pubrel",
    PUBCOMP: "handle_pubcomp",
    PINGREQ: "handle_pingreq",
    PINGRESP: "handle_pingresp",
    PUBLISH: "handle_publish",
    DISCONNECT: "handle_disconnect",
}


class _Handler(BrokerProtocolHandler):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's per-connection protocol handler, quiet about deliveries that fail, with the
    message path of the module's docstring."""

    def __init__(
        self, plugins_manager: Any, *, loop: asyncio.AbstractEventLoop, notes: RateLimitedLog
    ) -> None:
        super().__init__(plugins_manager, loop=loop)
        self.notes = notes
        broker = getattr(getattr(plugins_manager, "app_context", None), "_broker_instance", None)
        #: where this connection's PUBLISH packets are routed (None: amqtt's own way)
        self._broker: PolicyBroker | None = broker if isinstance(broker, PolicyBroker) else None
        # QoS 1 sent and not acknowledged, oldest first, with when they were sent
        self._window: dict[int, tuple[OutgoingApplicationMessage, float]] = {}
        self._outbox: collections.deque[tuple[str, bytes, int]] = collections.deque()
        self._expiry: asyncio.TimerHandle | None = None  # gives up the oldest in the window
        self._pump_due = False  # _pump is scheduled
        self._parked = False  # the connection has ended: deliveries go to the session's queue

    @property
    def _client_id(self) -> str | None:
        return self.session.client_id if self.session is not None else None

    async def mqtt_publish(
        self, topic: str, data: bytes, qos: int | None, retain: bool, ack_timeout: int | None = None
    ) -> Any:
        try:
            return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)
        except asyncio.CancelledError:
            # amqtt cancels the PUBACK waiters when a connection ends; only a cancellation of
            # this task itself goes on (a cancelled delivery makes amqtt's shutdown stop early).
            task = asyncio.current_task()
            cancelling = getattr(task, "cancelling", None)  # Python 3.11+
            if cancelling is None or cancelling():
                raise
        except (asyncio.TimeoutError, TimeoutError):
            self.notes.log(
                "delivery timeout",
                logging.WARNING,
                "client %r did not acknowledge a message on %r in time; it is not sent again",
                self._client_id,
                topic,
            )
        except Exception as exc:
            self.notes.log(
                "delivery failed",
                logging.WARNING,
                "delivery to client %r on %r failed: %r",
                self._client_id,
                topic,
                exc,
            )
        return None

    # -- delivery to this client ------------------------------------------------------------
    def deliver(self, topic: str, data: bytes, qos: int) -> None:
        """Queue a message for this client, in order: what the window allows (QoS 1) goes out in
        one write per turn of the event loop, not one each."""
        if self._parked or self.session is None or self.writer is None:
            self._park_one(topic, data, qos)
        elif qos < 2:
            self._outbox.append((topic, data, qos))
            if not self._pump_due:
                self._pump_due = True
                self._loop.call_soon(self._pump)
        elif self._broker is not None:  # QoS 2: amqtt's flow
            self._broker._spawn(self.mqtt_publish(topic, data, qos, retain=False))

    def _pump(self) -> None:
        self._pump_due = False
        session, outbox, window, packets = self.session, self._outbox, self._window, []
        if self._parked or session is None or self.writer is None:
            return
        now = self._loop.time()
        while outbox:
            topic, data, qos = outbox[0]
            if qos and len(window) >= INFLIGHT_WINDOW:
                break
            outbox.popleft()
            if not qos:
                packets.append(_publish_packet(topic, data, 0, 0))
                continue
            packet_id = session.next_packet_id
            message = OutgoingApplicationMessage(packet_id, topic, qos, data, False)
            session.inflight_out[packet_id] = message  # redelivered after a reconnect
            window[packet_id] = (message, now)
            packets.append(_publish_packet(topic, data, qos, packet_id))
        if packets:
            self.writer.write(b"".join(packets))
            if self._expiry is None:
                self._expiry = self._loop.call_at(now + ACK_TIMEOUT, self._expire)

    def _expire(self) -> None:
        """Give up what was not acknowledged within ACK_TIMEOUT, as amqtt does (one warning)."""
        self._expiry = None
        if self._parked:
            return
        window, deadline = self._window, self._loop.time() - ACK_TIMEOUT
        while window:
            packet_id, (message, sent) = next(iter(window.items()))
            if sent > deadline:
                self._expiry = self._loop.call_at(sent + ACK_TIMEOUT, self._expire)
                break
            del window[packet_id]
            if self.session is not None:
                self.session.inflight_out.pop(packet_id, None)
            self.notes.log(
                "delivery timeout",
                logging.WARNING,
                "client %r did not acknowledge a message on %r in time; it is not sent again",
                self._client_id,
                message.topic,
            )
        if self._outbox:
            self._pump()

    def _acked(self, packet_id: int) -> None:
        entry = self._window.pop(packet_id, None)
        if entry is None:  # one of amqtt's own flows (a redelivery after a reconnect)
            waiter = self._puback_waiters.get(packet_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(PubackPacket.build(packet_id))
            return
        if self.session is not None:
            self.session.inflight_out.pop(packet_id, None)
        if self._outbox and not self._pump_due:
            self._pump_due = True
            self._loop.call_soon(self._pump)

    async def handle_puback(self, puback: Any) -> None:
        self._acked(puback.variable_header.packet_id)

    def _park(self) -> None:
        """The connection is ending: what is in flight stays in the session's inflight_out
        (redelivered, DUP set, after a reconnect), what waits goes to its offline queue."""
        self._parked = True
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for message, _ in self._window.values():
            message.publish_packet = message.build_publish_packet()  # sent once: DUP next time
        self._window.clear()
        while self._outbox:
            self._park_one(*self._outbox.popleft())

    def _park_one(self, topic: str, data: bytes, qos: int) -> None:
        session = self.session
        if self._broker is not None and session is not None and not session.clean_session and qos:
            self._broker._queue_offline(None, topic, data, qos, session)

    async def stop(self) -> None:
        self._park()
        await super().stop()

    # -- reading from this client -----------------------------------------------------------
    async def _reader_loop(self) -> None:
        stream = getattr(self.reader, "_reader", None)
        if self._broker is None or self._reader_ready is None or not isinstance(stream, asyncio.StreamReader):
            await super()._reader_loop()
            return
        keep_alive = self.session.keep_alive if self.session.keep_alive > 0 else None
        running: collections.deque[asyncio.Task[None]] = collections.deque()
        data = b""
        while True:
            try:
                self._reader_ready.set()
                while running and running[0].done():
                    running.popleft()
                chunk = await asyncio.wait_for(stream.read(_READ_SIZE), keep_alive)
                if not chunk:
                    break  # EOF
                data = data + chunk if data else chunk
                at, acks, go_on = await self._packets(data, running)
                data = data[at:]
                if acks:
                    self.writer.write(b"".join(acks))  # this chunk's PUBACKs, in one write
                if not go_on:
                    break
                await self.writer.drain()
            except MalformedHeader:  # a protocol error: MQTT closes the connection
                log.debug("client %r sent a malformed fixed header: closing", self._client_id)
                break
            except MQTTError:
                log.debug("client %r sent a malformed packet: discarded", self._client_id)
            except asyncio.CancelledError:
                break
            except asyncio.TimeoutError:
                self.handle_read_timeout()
            except Exception as exc:
                log.debug("reading from client %r failed: %r", self._client_id, exc)
                break
        while running:
            running.popleft().cancel()
        await self.handle_connection_closed()
        self._reader_stopped.set()
        await self.stop()

    async def _packets(
        self, data: bytes, running: collections.deque[asyncio.Task[None]]
    ) -> tuple[int, list[bytes], bool]:
        """Handle the whole packets in ``data``: how far they go, the PUBACKs to send, and
        whether to go on reading."""
        at, acks = 0, list[bytes]()
        while (framed := _frame(data, at)) is not None:
            start, end = framed
            first = data[at]
            kind = first >> 4
            at = end
            if kind == PUBLISH and (first >> 1) & 3 < 2:
                if not self._received_publish(first, data[start:end], acks):
                    return at, acks, False
            elif kind == PUBACK and end - start == 2:
                self._acked((data[start] << 8) | data[start + 1])
            elif kind in (RESERVED_0, RESERVED_15):
                log.debug("client %r sent a reserved packet type: closing the connection", self._client_id)
                return at, acks, False
            else:
                task = await self._dispatch(first, data[start:end])
                if task is not None:
                    running.append(task)
        return at, acks, True

    def _received_publish(self, first: int, body: bytes, acks: list[bytes]) -> bool:
        """A QoS 0/1 PUBLISH from this client, routed; False to close the connection."""
        qos = (first >> 1) & 3
        if len(body) < 2:
            return False
        end = 2 + ((body[0] << 8) | body[1])
        if end + 2 * qos > len(body):
            return False
        try:
            topic = body[2:end].decode()
        except UnicodeDecodeError:
            return False
        if qos:
            acks.append(_PUBACK + body[end : end + 2])
        assert self._broker is not None
        return self._broker._publish_from(self.session, topic, body[end + 2 * qos :], qos, bool(first & 1))

    async def _dispatch(self, first: int, body: bytes) -> asyncio.Task[None] | None:
        """Any other packet, as amqtt's reader loop handles it."""
        fixed = MQTTFixedHeader(first >> 4, first & 0x0F, len(body))
        packet = await packet_class(fixed).from_stream(BufferReader(body), fixed_header=fixed)
        await self.plugins_manager.fire_event(MQTTEvents.PACKET_RECEIVED, packet=packet, session=self.session)
        if fixed.packet_type == CONNECT:
            await self.handle_connect(packet)
            return None
        name = _HANDLE.get(fixed.packet_type)
        return asyncio.create_task(getattr(self, name)(packet)) if name else None

    def handle_read_timeout(self) -> None:
        self.notes.log(
            "keep-alive",
            logging.WARNING,
            "client %r sent nothing for 1.5 times its keep-alive: disconnected",
            self._client_id,
        )
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # the broker's message loop ends the session, will included
