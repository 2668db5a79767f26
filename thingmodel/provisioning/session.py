"""One blocking provisioning exchange over MQTT: connect, subscribe, ask, wait for the answer.

The device halves of Huawei's bootstrap and AWS's fleet provisioning are sans-IO; this is the
small piece of I/O their ``provision()`` calls share. It uses only the public API of
:class:`~thingmodel.transport.MqttTransport` (start, subscribe, publish, stop). Answers are
handed from paho's network thread to the caller through a bounded queue; the caller waits with
a deadline, never longer.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Collection
from types import TracebackType

from ..errors import AuthenticationError, ConnectError
from ..protocol.messages import Outgoing
from ..transport import Ack, BrokerAddress, Credentials, MqttTransport, TlsOptions
from .credentials import ProvisioningError

log = logging.getLogger("thingmodel.provisioning")

#: messages waiting for the caller at most (more are dropped, and logged)
QUEUE_LIMIT = 64


class MqttExchange:
    """A connection to a provisioning server for one request/answer exchange at a time.

    ``with MqttExchange(broker, credentials, tls=..., timeout=30, what="bootstrap") as x:``
    connects (ProvisioningError when refused or unreachable); :meth:`subscribe` waits for each
    SUBACK; :meth:`ask` publishes and returns the first message on one of the answer topics.
    Every wait ends by the deadline ``timeout`` seconds after the start.
    """

    def __init__(
        self,
        broker: str,
        credentials: Credentials,
        *,
        tls: TlsOptions | None,
        timeout: float,
        what: str,
    ) -> None:
        address = BrokerAddress.parse(broker)
        if address.tls and tls is None:
            tls = TlsOptions()
        self.what = what
        self.broker = broker
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._answers: queue.Queue[tuple[str, bytes]] = queue.Queue(QUEUE_LIMIT)
        self.transport = MqttTransport(
            address.host,
            address.port,
            credentials,
            tls=tls if address.tls else None,
            on_message=self._on_message,
            name=f"provisioning-{what}",
        )

    def _left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def __enter__(self) -> MqttExchange:
        try:
            self.transport.start(max(self._left(), 0.1))
        except AuthenticationError as exc:
            raise ProvisioningError(
                f"{self.what}: {self.broker} refused the connection ({exc}); check the credentials "
                "(the server's log says which)"
            ) from None
        except ConnectError as exc:
            raise ProvisioningError(f"{self.what}: cannot reach {self.broker}: {exc}") from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.transport.stop(drain_timeout=1.0)

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        try:
            self._answers.put_nowait((topic, payload))
        except queue.Full:
            log.warning("%s: too many messages waiting; dropped the one on %s", self.what, topic)
        finally:
            ack()

    def subscribe(self, filters: Collection[str]) -> None:
        """Subscribe to each filter, waiting for its SUBACK (ProvisioningError past the deadline)."""
        for topic_filter in filters:
            if not self.transport.subscribe(topic_filter, 1, timeout=max(self._left(), 0.1)):
                raise ProvisioningError(
                    f"{self.what}: the server did not confirm the subscription to {topic_filter}"
                )

    def ask(self, request: Outgoing, answers: Collection[str]) -> tuple[str, bytes]:
        """Publish ``request`` and return ``(topic, payload)`` of the first message on one of
        ``answers``; ProvisioningError when none comes before the deadline."""
        self.transport.publish(request)
        while True:
            left = self._left()
            try:
                topic, payload = self._answers.get(timeout=left) if left > 0 else self._answers.get_nowait()
            except queue.Empty:
                raise ProvisioningError(
                    f"{self.what}: no answer to {request.topic} within {self._timeout:g} s"
                ) from None
            if topic in answers:
                return topic, payload
            log.info("%s: ignored a message on %s while waiting for %s", self.what, topic, request.topic)
