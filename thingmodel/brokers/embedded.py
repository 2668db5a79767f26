"""The embedded broker: amqtt (pure Python, the ``local`` extra) in this process, on its own
event-loop thread.

Which MQTT versions each broker serves:

- :class:`EmbeddedBroker`: MQTT 3.1 ("MQIsdp", level 3, what Tencent's device SDK speaks) and
  3.1.1 (level 4). amqtt cannot speak MQTT 5 packets, so an MQTT 5 client gets CONNACK return
  code 1 (unacceptable protocol version) and one log line.
- :class:`~thingmodel.brokers.mosquitto.Mosquitto`: MQTT 3.1, 3.1.1 and 5.

Like the vendors' brokers, the embedded one closes the older connection when a client id
connects again (MQTT-3.1.4-2), disconnects a client silent for 1.5 times its keep-alive, refuses
a connection that sends no CONNECT within ``connect_timeout``, ends a clean session with its
connection, and queues at most 100,000 messages for an offline persistent session. A bad
connection attempt or a delivery timeout is one log line, at most one a second of each kind
(the others are counted and the count is logged). A :class:`~thingmodel.brokers.policy.BrokerPolicy`
decides who connects, what each client is subscribed to implicitly, and where it may publish
and subscribe. What is changed in amqtt, and why, is in ``amqtt_broker.py``.

With ``tls`` (a :class:`~thingmodel.brokers.tls.ServerTls`) the listener speaks MQTT over TLS
(``mqtts://``); with its ``cafile`` every client must present a certificate that CA signed, and
the policy finds it in ``ClientInfo.certificate`` (AWS IoT authenticates its devices so). A failed
handshake (no certificate, one from another CA, plain MQTT on the TLS port) is one rate-limited
log line naming the peer and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import warnings
from typing import Any

from ..errors import BrokerError
from .policy import BrokerPolicy, OpenPolicy
from .ports import check_port_free, free_port
from .ratelimit import RateLimitedLog
from .tls import ServerTls

log = logging.getLogger("thingmodel.brokers")


class EmbeddedBroker:
    """amqtt running in this process (MQTT 3.1 and 3.1.1), on its own asyncio loop thread.

    ``policy`` may be replaced at any time; a running broker applies the new one from its next
    connection, publish or subscribe on. ``tls``: listen for MQTT over TLS instead of plain TCP.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        policy: BrokerPolicy = OpenPolicy(),  # noqa: B008 - stateless, safe to share
        *,
        connect_timeout: float = 10.0,
        tls: ServerTls | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        #: seconds a new connection has to send its CONNECT
        self.connect_timeout = connect_timeout
        #: the listener's TLS; None: plain TCP
        self.tls = tls
        self._policy = policy
        self._notes = RateLimitedLog(log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._flusher: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        scheme = "mqtt" if self.tls is None else "mqtts"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def policy(self) -> BrokerPolicy:
        """Who may connect, publish and subscribe; :class:`OpenPolicy` by default."""
        return self._policy

    @policy.setter
    def policy(self, policy: BrokerPolicy) -> None:
        self._policy = policy
        if self._broker is not None:
            self._broker.policy = policy

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Listen on host:port; BrokerError if amqtt is missing, the port is taken, or a TLS file
        cannot be loaded."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from . import amqtt_broker
        except ImportError:
            raise BrokerError("the embedded broker needs amqtt: pip install 'thingmodel[local]'") from None
        amqtt_broker.check_amqtt()
        tls_context = self.tls.context() if self.tls is not None else None
        check_port_free(self.host, self.port)
        for name in ("amqtt", "transitions"):  # chatty at INFO/WARNING about its own config
            logging.getLogger(name).setLevel(logging.ERROR)
        config = {"listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}}}
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._on_loop_error)
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="embedded-broker", daemon=True)
        self._thread.start()

        async def boot() -> None:
            broker = amqtt_broker.PolicyBroker(
                config,
                policy=self._policy,
                notes=self._notes,
                connect_timeout=self.connect_timeout,
                tls_context=tls_context,
            )
            await broker.start()
            self._broker = broker
            self._flusher = asyncio.ensure_future(self._flush_notes())

        try:
            asyncio.run_coroutine_threadsafe(boot(), loop).result(timeout)
        except Exception as exc:
            self.stop()
            raise BrokerError(f"the embedded broker did not start on {self.host}:{self.port}: {exc}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection and stop listening."""
        loop, broker = self._loop, self._broker
        if loop is None:
            return

        async def halt() -> None:
            if broker is not None:
                await broker.close()
            for _ in range(5):  # a task ending may start another (amqtt fires events as tasks)
                others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
                if not others:
                    break
                for task in others:
                    task.cancel()
                await asyncio.wait(others, timeout=timeout)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(halt(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(Exception):
            loop.close()
        self._notes.flush(everything=True)
        self._loop = self._broker = self._thread = self._flusher = None

    async def _flush_notes(self) -> None:
        while True:
            await asyncio.sleep(self._notes.interval)
            self._notes.flush()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Whatever amqtt leaves unhandled: one line, the traceback only at DEBUG.
        exc = context.get("exception")
        message = context.get("message", "error")
        self._notes.log(
            "event loop", logging.WARNING, "embedded broker: %s%s", message, f": {exc!r}" if exc else ""
        )
        log.debug("embedded broker: %s", message, exc_info=exc)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
