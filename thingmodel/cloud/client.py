"""``CloudClient``: talks to a running local cloud from another process (the CLI uses it)."""

from __future__ import annotations

import threading
from typing import Any

from ..errors import CodecError
from ..ids import new_id
from ..transport import Ack, BrokerAddress, MqttTransport, TlsOptions
from . import appapi


class CloudClient:
    """Request/response with a :class:`~thingmodel.cloud.LocalCloud` over its broker."""

    def __init__(
        self,
        broker: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TlsOptions | None = None,
    ) -> None:
        address = BrokerAddress.parse(broker)
        client_id = f"thingmodel-app-{new_id()[:8]}"
        self._answers: dict[str, bytes] = {}
        self._arrived = threading.Condition()
        self.transport = MqttTransport(
            address.host,
            address.port,
            lambda: (client_id, username, password),
            tls=tls or (TlsOptions() if address.tls else None),
            subscriptions=[appapi.RESPONSE_PREFIX + "+"],
            on_message=self._on_message,
            name="app",
        )

    def __enter__(self) -> CloudClient:
        self.transport.start(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.transport.stop()

    def call(self, op: str, timeout: float = 5.0, **args: Any) -> Any:
        """Run one operation; CodecError carries the cloud's refusal, TimeoutError its silence."""
        rid, message = appapi.request(op, timeout=timeout, **args)
        self.transport.publish(message)
        with self._arrived:
            # the cloud itself waits up to `timeout` for the device, so allow it a margin
            if not self._arrived.wait_for(lambda: rid in self._answers, timeout + 5):
                raise TimeoutError(
                    f"the local cloud at {self.transport.host}:{self.transport.port} "
                    f"did not answer within {timeout + 5:g} s; is `thingmodel cloud` running?"
                )
            payload = self._answers.pop(rid)
        return appapi.parse_response(payload)

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        rid = topic[len(appapi.RESPONSE_PREFIX) :]
        with self._arrived:
            self._answers[rid] = payload
            self._arrived.notify_all()


__all__ = ["CloudClient", "CodecError"]
