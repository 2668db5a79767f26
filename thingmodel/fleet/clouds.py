"""The cloud a fleet reports to: one the simulator runs itself, or one that already runs.

* :class:`OwnCloud` (no ``--cloud``): a :class:`~thingmodel.cloud.LocalCloud` in this process, on
  its embedded broker or on ``--broker``; reports are seen arriving through its ``on_uplink``,
  the moment its worker handles them.
* :class:`RunningCloud` (``--cloud URL``): a ``thingmodel cloud`` elsewhere, which every shard
  of a fleet shares; its vendor and broker come from its API, reports are seen by a
  :class:`~.probe.Probe` on that broker, shadows are checked over its API.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote

from ..errors import InvalidValue
from ..protocol import messages as ev
from .probe import OnReport, Probe

SHADOW_CHECKS = 16
"""Shadow look-ups in flight at once against a running cloud."""


class CloudSide(Protocol):
    """What the simulator needs from the cloud."""

    vendor: str
    #: the broker URL devices connect to (known once started)
    broker: str

    def start(self, on_report: OnReport) -> None: ...

    def missing_shadows(self, device_ids: Sequence[str]) -> list[str]:
        """The devices that have no shadow in the cloud."""
        ...

    def stop(self) -> None: ...

    def describe(self) -> str: ...


class OwnCloud:
    """A local cloud in this process (embedded broker unless ``broker`` is given)."""

    def __init__(self, vendor: str, broker: str | None = None) -> None:
        from ..cloud import discovery

        running = discovery.find()
        if broker is not None and running is not None and running["mqtt_url"] == broker:
            raise InvalidValue(
                f"a local cloud already serves {broker}: give --cloud {running['http_url']} to use it"
            )
        self.vendor = vendor
        self.broker = broker or ""
        self._given = broker
        self._cloud: Any = None
        self._on_report: OnReport | None = None

    def start(self, on_report: OnReport) -> None:
        from ..cloud import LocalCloud

        self._on_report = on_report
        cloud = LocalCloud(
            vendor=self.vendor,
            broker=self._given,
            port=0,
            client_id=f"thingmodel-simulate-{self.vendor}",
            on_uplink=self._uplink,
        )
        self._cloud = cloud.start()
        self.broker = cloud.url

    def _uplink(self, event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and self._on_report is not None:
            self._on_report(event.device_id, event.services.keys(), time.monotonic())

    def missing_shadows(self, device_ids: Sequence[str]) -> list[str]:
        return [device_id for device_id in device_ids if not self._cloud.get_shadow(device_id)]

    def stop(self) -> None:
        if self._cloud is not None:
            self._cloud.stop()

    def describe(self) -> str:
        where = "its embedded broker" if self._given is None else self._given
        return f"a local {self.vendor} cloud of its own on {where}"


class RunningCloud:
    """A running ``thingmodel cloud``, reached at its HTTP ``url``."""

    def __init__(
        self,
        url: str,
        *,
        app_key: str | None = None,
        vendor: str | None = None,
        broker: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        from ..cloud.client import CloudClient
        from ..cloud.http.server import AppKey

        self.client = CloudClient(url, app_key=AppKey.parse(app_key) if app_key else None)
        info = self.client.get("/info")  # ConnectError when nothing answers there
        self.vendor = str(info["vendor"])
        if vendor is not None and vendor != self.vendor:
            raise InvalidValue(
                f"the cloud at {url} speaks {self.vendor}, not {vendor}: run with --vendor {self.vendor}"
            )
        self.broker = broker or str(info["mqtt_url"])
        self._auth = (username, password)
        self._probe: Probe | None = None

    def start(self, on_report: OnReport) -> None:
        username, password = self._auth
        self._probe = Probe(self.broker, self.vendor, on_report, username=username, password=password)
        self._probe.start()

    def missing_shadows(self, device_ids: Sequence[str]) -> list[str]:
        from ..cloud.client import ApiError

        def missing(device_id: str) -> bool:
            try:
                answer = self.client.get("/devices/" + quote(device_id, safe=""))
            except ApiError as exc:
                if exc.status == 404:
                    return True
                raise
            return not answer.get("services")

        with concurrent.futures.ThreadPoolExecutor(SHADOW_CHECKS, thread_name_prefix="fleet-shadow") as pool:
            flags = list(pool.map(missing, device_ids))
        return [device_id for device_id, gone in zip(device_ids, flags, strict=True) if gone]

    def stop(self) -> None:
        if self._probe is not None:
            self._probe.stop()

    def describe(self) -> str:
        return f"the {self.vendor} cloud at {self.client.url} (broker {self.broker})"
