"""The probe: an MQTT subscriber that sees the fleet's reports arrive at a broker the simulator
does not run the cloud of (``--cloud URL``).

It subscribes, at QoS 1, to the filters the vendor's platform side subscribes to, and feeds
what arrives to an in-memory copy of that platform side (:func:`thingmodel.cloud.platforms.make_cloud`,
its answers thrown away: the real cloud answers), which decodes each uplink exactly as the
cloud does and passes the reports to ``on_report``.

It is a plain paho client of its own rather than the project's transport, so that it observes
the transport under test instead of sharing its threads and queues.
"""

from __future__ import annotations

import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..errors import ConnectError
from ..protocol import messages as ev
from ..transport import BrokerAddress

log = logging.getLogger("thingmodel.fleet")

OnReport = Callable[[str | None, Iterable[str], float], None]
"""``on_report(device_id, shadow keys, arrival time)``."""


class Probe:
    """Subscribes to the vendor's device uplinks on ``broker`` and reports each report's arrival."""

    def __init__(
        self,
        broker: str,
        vendor: str,
        on_report: OnReport,
        *,
        username: str | None = None,
        password: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from ..cloud.platforms import make_cloud

        self.address = BrokerAddress.parse(broker)
        self.on_report = on_report
        self.clock = clock
        self._arrival = 0.0
        self.platform = make_cloud(vendor, lambda message: None, on_uplink=self._uplink)
        self.filters = self.platform.subscriptions()
        self._client = mqtt.Client(
            # unique per process: the probes of several shards share the broker
            CallbackAPIVersion.VERSION2,
            client_id=f"thingmodel-fleet-probe-{secrets.token_hex(6)}",
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            self._client.tls_set_context(ssl.create_default_context())
        self._client.on_connect = self._connected
        self._client.on_subscribe = self._subscribed
        self._client.on_message = self._message
        self._ready = threading.Event()
        self._refused: str | None = None

    def start(self, timeout: float = 10.0) -> Probe:
        """Connect and subscribe; ConnectError when that does not happen within ``timeout``."""
        try:
            self._client.connect(self.address.host, self.address.port, keepalive=60)
        except OSError as exc:
            raise ConnectError(
                f"probe: cannot reach {self.address.host}:{self.address.port}: {exc}"
            ) from None
        self._client.loop_start()
        if not self._ready.wait(timeout) or self._refused:
            self.stop()
            why = self._refused or f"no subscription within {timeout:g} s"
            raise ConnectError(f"probe on {self.address.host}:{self.address.port}: {why}")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # -- on paho's thread ----------------------------------------------------------------------
    def _connected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = f"the broker refused the connection ({reason})"
            self._ready.set()
            return
        client.subscribe([(topic_filter, 1) for topic_filter in self.filters])

    def _subscribed(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._refused = f"the broker refused the subscription ({', '.join(refused)})"
        self._ready.set()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._arrival = self.clock()
        try:
            self.platform.receive(message.topic, bytes(message.payload))
        except Exception:  # the platform logs bad input itself; this is a bug, not a stop
            log.exception("probe: decoding the uplink on %s failed", message.topic)

    def _uplink(self, event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported):
            self.on_report(event.device_id, event.services.keys(), self._arrival)
