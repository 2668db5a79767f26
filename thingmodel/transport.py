"""The MQTT transport on paho-mqtt 2.x: the only module that opens sockets.

- TLS with certificate and host-name verification by default (a CA file or the system store),
  client certificates, and an explicit, loudly logged ``insecure`` opt-out. Plain TCP is for
  loopback unless asked for explicitly.
- TCP_NODELAY on the socket (without it a QoS 1 request/response stalls ~40 ms on Nagle).
- Reconnect with exponential backoff and jitter, reset after each successful connection;
  credentials are computed again for every attempt (Huawei's depend on the hour). A CONNACK
  refusing the credentials ends the retries with :class:`AuthenticationError`.
- Every filter is subscribed again after each (re)connect.
- Offline queue: QoS 1 messages published while disconnected wait in paho's own queue, which
  keeps their order and sends them after the reconnect. At most ``offline_limit`` are kept per
  outage; past that a new message is refused: logged, counted in :attr:`dropped` and passed to
  ``on_drop``. Nothing is dropped silently.

Callbacks (``on_message``, ``on_connect``) run on paho's network thread: keep them short and hand
work to another thread (the Device does).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import attrs
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .errors import ThingModelError
from .events import Outgoing

log = logging.getLogger("thingmodel.transport")

_AUTH_REFUSED = {4, 5, 134, 135}  # MQTT 3.1.1 CONNACK 4/5 as paho maps them to MQTT 5 codes


class ConnectError(ThingModelError, ConnectionError):
    """The transport could not connect (in time)."""


class AuthenticationError(ConnectError):
    """The broker refused the credentials; retrying would not help."""


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

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Credentials,
        *,
        tls: TlsOptions | None = None,
        subscriptions: list[str] | None = None,
        keepalive: int = 60,
        backoff: Backoff | None = None,
        offline_limit: int = 1000,
        will: Outgoing | None = None,
        on_message: Callable[[str, bytes], None] | None = None,
        on_connect: Callable[[], None] | None = None,
        on_drop: Callable[[Outgoing], None] | None = None,
        name: str = "thingmodel",
    ) -> None:
        if tls is None and not is_loopback(host):
            log.warning("plain TCP to %s:%s: credentials and data travel unencrypted", host, port)
        if offline_limit < 0:
            raise ValueError("offline_limit must be >= 0")
        self.host = host
        self.port = port
        self.tls = tls
        self.subscriptions = list(subscriptions or [])
        self.keepalive = keepalive
        self.backoff = backoff or Backoff()
        self.offline_limit = offline_limit
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_drop = on_drop
        self.name = name
        #: messages refused because the offline queue was full
        self.dropped = 0
        self._credentials = credentials
        self._offline = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._fatal: ConnectError | None = None
        self._last_error: str = "no attempt yet"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        client_id, _, _ = credentials()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, reconnect_on_failure=False
        )
        self._client.max_inflight_messages_set(100)
        self._client.on_socket_open = _set_nodelay
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        if will is not None:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        if tls is not None:
            self._configure_tls(tls)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<MqttTransport {self.host}:{self.port} {'tls' if self.tls else 'plain'} {state}>"

    def _configure_tls(self, tls: TlsOptions) -> None:
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
        self._client.tls_set_context(context)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, timeout: float = 30.0) -> None:
        """Connect, blocking until connected; raise ConnectError (AuthenticationError) otherwise.

        After the first connection the transport reconnects by itself until :meth:`stop`.
        """
        if self._thread is not None:
            raise RuntimeError("transport already started")
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-mqtt", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.02):
            if self._fatal is not None or time.monotonic() >= deadline:
                self.stop()
                if self._fatal is not None:
                    raise self._fatal
                raise ConnectError(
                    f"could not connect to {self.host}:{self.port} within {timeout:g} s: {self._last_error}"
                )

    def stop(self) -> None:
        """Disconnect cleanly and end the network thread."""
        self._stopping.set()
        with contextlib.suppress(Exception):  # already gone
            self._client.disconnect()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._connected.clear()

    def _run(self) -> None:
        while not self._stopping.is_set():
            client_id, username, password = self._credentials()
            # paho has no public setter for the client id, which Huawei's credentials change hourly.
            self._client._client_id = client_id.encode()
            self._client.username_pw_set(username, password)
            try:
                self._client.connect(self.host, self.port, self.keepalive)
            except ssl.SSLCertVerificationError as exc:
                self._last_error = f"TLS certificate verification failed: {exc.verify_message}"
                log.error("%s:%s: %s", self.host, self.port, self._last_error)
                if not self._ever_connected:
                    self._fatal = ConnectError(f"{self.host}:{self.port}: {self._last_error}")
                    return
            except (OSError, ssl.SSLError) as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.info("connect to %s:%s failed: %s", self.host, self.port, self._last_error)
            else:
                self._client.loop_forever()
                if self._fatal is not None:
                    return
            if self._stopping.is_set():
                return
            delay = self.backoff.next_delay()
            log.info("reconnecting to %s:%s in %.2f s", self.host, self.port, delay)
            self._stopping.wait(delay)

    _ever_connected = False

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
        with self._lock:
            self._offline = 0
        if self.subscriptions:
            client.subscribe([(f, 1) for f in self.subscriptions])
        self._connected.set()
        log.info("connected to %s:%s", self.host, self.port)
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
        if was and not self._stopping.is_set():
            log.warning("disconnected from %s:%s: %s", self.host, self.port, reason)

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(message.topic, bytes(message.payload))
        except Exception:
            log.exception("handling a message on %s failed", message.topic)

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, message: Outgoing) -> bool:
        """Send (or queue while offline) one message; False when it was refused and dropped."""
        with self._lock:
            if not self._connected.is_set():
                if self._offline >= self.offline_limit:
                    self.dropped += 1
                    refused = True
                else:
                    self._offline += 1
                    refused = False
            else:
                refused = False
        if refused:
            log.warning(
                "offline queue full (%d messages): dropped a message for %s",
                self.offline_limit,
                message.topic,
            )
            if self.on_drop is not None:
                self.on_drop(message)
            return False
        info = self._client.publish(message.topic, message.payload, message.qos, message.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("publish to %s failed: %s", message.topic, mqtt.error_string(info.rc))
            with self._lock:
                self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(message)
            return False
        return True


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not a TCP socket (websockets, unix)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
