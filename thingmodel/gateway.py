"""``Gateway``: a device that speaks for child devices (sub-devices) over its one connection.

A child is made of ordinary :class:`~thingmodel.declare.service.Service` objects and has its own
engine (desired values, commands, reads, auto-reports, shadow sync), exactly as a ``Device``
has; only its wire differs, and a codec made for the child (``gateway_id=``) knows that
(Huawei: the gateway's topics with ``object_device_id``; Tencent and AWS: the child's own topics
on the gateway's connection). The gateway routes each downlink to its child by the vendor's
``addressee``, tells the cloud which children exist and which are online (the neutral messages
of :mod:`thingmodel.protocol.gateway`), and sends children's reports in batches where the vendor
takes them (Huawei: up to 100 children a message).

A gateway's children share its worker: their user code runs one call at a time, in the order
messages arrived, as on the serial bus (Modbus, BLE) a gateway usually drives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .declare.service import Service
from .device import Device
from .engine.core import DeviceError, check_services
from .engine.session import DeviceSession
from .errors import InvalidValue, NotSupported
from .ids import new_id, validate_id
from .protocol.codec import DeviceCodec
from .protocol.gateway import (
    AddChildren,
    ChildInfo,
    ChildrenAnswered,
    ChildrenChanged,
    ChildrenStatus,
    RemoveChildren,
    SyncChildren,
)
from .protocol.messages import Outgoing, ReportProperties, Uplink
from .transport import Ack
from .vendors import device_codec

log = logging.getLogger("thingmodel.gateway")

#: children named in one status message (Huawei's limit)
STATUS_BATCH = 100
#: children named in one add request (Huawei's limit)
ADD_BATCH = 50
#: seconds children's reports wait to be sent together
REPORT_WINDOW = 0.02
#: seconds a child told online waits for the cloud's answer before it starts anyway
STATUS_PATIENCE = 3.0


class _ChildSession(DeviceSession):
    """A child's session: where the vendor batches children's reports, its reports go to the
    gateway's batch, and anything else it sends first sends the batch (so the order holds:
    Tencent reads a write's answer from the report before the desired values are cleared)."""

    def __init__(
        self,
        *args: Any,
        batch: Callable[[_ChildSession, ReportProperties], None] | None,
        flush: Callable[[], None],
        **kw: Any,
    ):
        self._batch = batch
        self._flush = flush
        super().__init__(*args, **kw)

    def send(self, message: Uplink) -> None:
        if self._batch is None:
            super().send(message)
        elif isinstance(message, ReportProperties):
            self._batch(self, message)
        else:
            self._flush()
            super().send(message)


class Child:
    """One child of a :class:`Gateway`: its services and its own engine (``core``)."""

    def __init__(self, info: ChildInfo, services: Sequence[Service], session: _ChildSession) -> None:
        self.info = info
        self.device_id = info.device_id
        self.services = list(services)
        self.session = session
        self.core = session.core
        #: whether the cloud confirmed it online (since the gateway's last connect)
        self.online = False
        #: whether the cloud was asked to add it (or told us of it)
        self.registered = False
        #: told online, waiting for the cloud's answer before it starts
        self.starting = False
        #: added again this connection because the cloud did not know it
        self.readded = False

    def __repr__(self) -> str:
        return f"<Child {self.device_id!r} {'online' if self.online else 'offline'}>"

    def service(self, service_id: str) -> Service:
        """The child's service with this id; KeyError naming the known ids otherwise."""
        try:
            return self.core.services[service_id]
        except KeyError:
            raise KeyError(
                f"{self.device_id} has no service {service_id!r} (known: {', '.join(self.core.services)})"
            ) from None


class Gateway(Device):
    """A device whose connection also serves child devices; see the module docstring.

    ``on_child_added(info)`` is called (on the worker) when the cloud tells of a child this
    gateway does not have: return its services to take it on, or None to leave it.
    ``on_child_removed(device_id)`` when the cloud removed one (it is detached already).
    """

    def __init__(
        self,
        services: Sequence[Service],
        *,
        device_id: str,
        vendor: str = "huawei",
        on_child_added: Callable[[ChildInfo], Sequence[Service] | None] | None = None,
        on_child_removed: Callable[[str], object] | None = None,
        codec_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(services, device_id=device_id, vendor=vendor, codec_options=codec_options, **options)
        addressee = getattr(self.codec, "addressee", None)
        if not callable(addressee):
            raise NotSupported(f"{vendor}: thingmodel has no gateway protocol for this vendor")
        self._addressee: Callable[[str, bytes], str | None] = addressee
        self._batch_out: Callable[[list[Outgoing]], list[Outgoing]] | None = getattr(
            self.codec, "batch", None
        )
        self._codec_options = dict(codec_options or {})
        self.on_child_added = on_child_added
        self.on_child_removed = on_child_removed
        #: the children, by device id
        self.children: dict[str, Child] = {}
        #: the version of the cloud's list of this gateway's children (Huawei), for the next sync
        self.children_version: int | None = None
        self._children_lock = threading.RLock()
        self._reports: list[tuple[_ChildSession, ReportProperties]] = []
        self._reports_lock = threading.Lock()
        self._flush_due = False
        self.core.feature_handlers.update({ChildrenChanged: self._changed, ChildrenAnswered: self._answered})
        #: the gateway messages this vendor has (AWS: none; its children are plain things)
        self._speaks = self.codec.encoders.kinds
        own = getattr(self.codec, "gateway_subscriptions", None)  # Tencent: $gateway/operation/result
        for topic_filter in own() if callable(own) else []:
            if topic_filter not in self.transport.subscriptions:
                self.transport.subscriptions.append(topic_filter)

    def __repr__(self) -> str:
        return f"<Gateway {self.device_id!r} {self.vendor} {len(self.children)} children {self.transport!r}>"

    # -- children ------------------------------------------------------------------------------
    def add_child(
        self,
        device_id: str,
        services: Sequence[Service],
        *,
        product_id: str | None = None,
        node_id: str | None = None,
        name: str | None = None,
        secret: str | None = None,
        register: bool = True,
    ) -> Child:
        """Take on a child made of ``services``. With ``register`` the cloud is asked to add it
        (now if connected, else at the next connect); either way it is reported online and its
        shadow synced once connected."""
        info = ChildInfo(validate_id("device_id", device_id), product_id, node_id, name, secret)
        return self._attach(info, services, register=register)

    def _attach(self, info: ChildInfo, services: Sequence[Service], *, register: bool) -> Child:
        if info.device_id == self.device_id:
            raise InvalidValue(f"gateway {self.device_id} cannot be its own child")
        by_id = check_services(services)
        codec = self._child_codec(info.device_id, list(by_id))
        with self._children_lock:
            if info.device_id in self.children:
                raise InvalidValue(f"{info.device_id} is a child of {self.device_id} already")
            child_box: list[Child] = []
            session = _ChildSession(
                list(by_id.values()),
                codec,
                publish=self.transport.publish,
                # a child's shadow request waits behind the gateway's gate too: after its add
                publish_now=self.transport.publish,
                batch=self._queue_report if self._batch_out is not None else None,
                flush=self._flush_reports,
                clock=self._clock,
                on_error=lambda error: self._child_error(child_box[0], error),
                on_schedule_change=self.worker.wake,
            )
            child = Child(info, list(by_id.values()), session)
            child_box.append(child)
            child.registered = not register
            self.children[info.device_id] = child
        if self.connected:
            self.worker.submit(lambda: self._bring_up([child]))
        return child

    def remove_child(self, device_id: str, *, unregister: bool = True) -> None:
        """Let a child go: reported offline, and with ``unregister`` the cloud is asked to delete
        it; KeyError if it is not a child."""
        with self._children_lock:
            child = self.children.pop(device_id, None)
        if child is None:
            raise KeyError(f"{device_id} is not a child of {self.device_id}")
        self._detach(child)
        if self.connected:

            def tell() -> None:
                self._tell(ChildrenStatus(new_id(), {device_id: False}))
                if unregister:
                    self._tell(RemoveChildren(new_id(), [device_id]))

            self.worker.submit(tell)

    def child(self, device_id: str) -> Child:
        """The child with this id; KeyError naming the known ones otherwise."""
        try:
            return self.children[device_id]
        except KeyError:
            raise KeyError(
                f"{self.device_id} has no child {device_id!r} (known: {', '.join(self.children) or 'none'})"
            ) from None

    def _child_codec(self, device_id: str, service_ids: list[str]) -> DeviceCodec:
        return device_codec(
            self.vendor,
            device_id=device_id,
            service_ids=service_ids,
            gateway_id=self.device_id,
            **self._codec_options,
        )

    def _detach(self, child: Child) -> None:
        for service in child.core.services.values():
            child.core.cancel_auto_report(service)
        for topic_filter in child.session.codec.subscriptions():
            self.transport.unsubscribe(topic_filter)
        child.core.detach()
        child.online = False

    def _tell(self, message: Uplink) -> None:
        """Send one gateway message, where the vendor has it."""
        if type(message) in self._speaks:
            self.core.emit(message)

    def _child_error(self, child: Child, error: DeviceError) -> None:
        self._record_error(
            DeviceError(error.kind, error.service_id, error.name, f"child {child.device_id}: {error.reason}")
        )

    # -- bringing children up (on the worker) --------------------------------------------------
    def _bring_up(self, children: list[Child]) -> None:
        """Ask the cloud to add the unregistered ones, say all are online, subscribe their
        topics and sync their shadows."""
        new = [c.info for c in children if not c.registered]
        for start in range(0, len(new), ADD_BATCH):
            self._tell(AddChildren(new_id(), new[start : start + ADD_BATCH]))
        for child in children:
            child.registered = True
        ids = [c.device_id for c in children]
        if ChildrenStatus not in self._speaks:  # AWS: nothing to say; a child is up at once
            self._start(children)
            return
        for start in range(0, len(ids), STATUS_BATCH):
            self._tell(ChildrenStatus(new_id(), dict.fromkeys(ids[start : start + STATUS_BATCH], True)))
        # Tencent lets a gateway use a child's topics only once the child is online: each child
        # starts when the cloud says so, or after STATUS_PATIENCE if the answer never comes.
        for child in children:
            child.starting = True

        def late() -> None:
            waiting = [c for c in children if c.starting and self.children.get(c.device_id) is c]
            if waiting:
                log.warning(
                    "%s: no online answer for %d children in %g s: starting them anyway",
                    self.device_id,
                    len(waiting),
                    STATUS_PATIENCE,
                )
                self._start(waiting)

        self.transport.loop.call_later(STATUS_PATIENCE, lambda: self.worker.submit(late))

    def _start(self, children: list[Child]) -> None:
        """Subscribe the children's own topics and sync their shadows."""
        now = self._clock()
        for child in children:
            child.starting = False
            for topic_filter in child.session.codec.subscriptions():
                self.transport.subscribe(topic_filter)
            child.session.connected(now)

    def _on_connect(self) -> None:
        super()._on_connect()

        def children_up() -> None:
            self._tell(SyncChildren(new_id(), self.children_version))
            with self._children_lock:
                children = list(self.children.values())
            for child in children:
                child.readded = False
            self._bring_up(children)

        self.worker.submit(children_up)

    def _on_disconnect(self) -> None:
        super()._on_disconnect()

        def children_down() -> None:
            with self._children_lock:
                children = list(self.children.values())
            for child in children:
                child.online = False
                child.session.disconnected()

        self.worker.submit(children_down)

    def disconnect(self) -> None:
        """Report the children offline, stop their reports, then disconnect."""
        with self._children_lock:
            children = list(self.children.values())
        for child in children:
            for service in child.core.services.values():
                child.core.cancel_auto_report(service)
        if self.connected and children:
            ids = [c.device_id for c in children]

            def offline() -> None:
                self._flush_reports()
                for start in range(0, len(ids), STATUS_BATCH):
                    self._tell(
                        ChildrenStatus(new_id(), dict.fromkeys(ids[start : start + STATUS_BATCH], False))
                    )

            self.worker.submit(offline)
        super().disconnect()
        for child in children:
            child.core.detach()

    # -- what the cloud says about children (on the worker) -------------------------------------
    def _changed(self, change: ChildrenChanged) -> None:
        acknowledge = getattr(self.codec, "acknowledge", None)  # Tencent acks a change push
        if callable(acknowledge):
            for out in acknowledge(change):
                self.transport.publish(out)
        if change.version is not None:
            self.children_version = change.version
        known = {info.device_id for info in change.added}
        for info in change.added:
            present = self.children.get(info.device_id)
            if present is not None:
                present.registered = True
                continue
            if info.device_id == self.device_id:
                continue
            services = self.on_child_added(info) if self.on_child_added is not None else None
            if services is None:
                log.info(
                    "%s: the cloud lists child %s, which this gateway does not take on",
                    self.device_id,
                    info.device_id,
                )
                continue
            self._attach(info, services, register=False)  # brought up on the worker when connected
        gone = list(change.removed)
        if change.complete:
            # A full list without some of ours: the cloud forgot them (a restart), or never had
            # them. Only an explicit removal drops a child; these are added again.
            missing = [c for d, c in self.children.items() if d not in known and d not in gone]
            for child in missing:
                child.registered = False
            if missing and self.connected:
                infos = [c.info for c in missing]
                for start in range(0, len(infos), ADD_BATCH):
                    self._tell(AddChildren(new_id(), infos[start : start + ADD_BATCH]))
                for child in missing:
                    child.registered = True
        for device_id in gone:
            with self._children_lock:
                leaving = self.children.pop(device_id, None)
            if leaving is None:
                continue
            self._detach(leaving)
            if self.on_child_removed is not None:
                try:
                    self.on_child_removed(device_id)
                except Exception as exc:
                    self._record_error(DeviceError("callback", None, "on_child_removed", f"raised {exc!r}"))

    def _answered(self, answer: ChildrenAnswered) -> None:
        again = []
        for device_id, reason in answer.failed.items():
            failed = self.children.get(device_id)
            if answer.operation == "status" and failed is not None and not failed.readded:
                # the cloud does not know it (it restarted, or the child was removed there):
                # add it again, once per connection
                failed.registered, failed.readded = False, True
                again.append(failed)
                continue
            self._record_error(
                DeviceError("gateway", None, device_id, f"{answer.operation} refused: {reason}")
            )
        if again:
            log.info("%s: the cloud did not know %d children: adding them again", self.device_id, len(again))
            self._bring_up(again)
        if answer.operation == "status":
            started = []
            for device_id in answer.done:
                child = self.children.get(device_id)
                if child is not None:
                    child.online = True
                    if child.starting:
                        started.append(child)
            self._start(started)

    # -- downlinks: the gateway's own, or a child's ------------------------------------------------
    def _receive(self, topic: str, payload: bytes, ack: Ack) -> None:
        try:
            addressee = self._addressee(topic, payload)
        except Exception as exc:  # a codec's bug must not stop the gateway
            addressee = None
            log.error("%s: addressee of %s failed: %r", self.device_id, topic, exc)
        if addressee is None or addressee == self.device_id:
            super()._receive(topic, payload, ack)
            return
        try:
            child = self.children.get(addressee)
            if child is None:
                self._record_error(
                    DeviceError(
                        "gateway",
                        None,
                        addressee,
                        f"a downlink on {topic} for a device that is not a child of this gateway",
                    )
                )
                return
            child.session.receive(topic, payload)
        finally:
            ack()

    # -- the worker's schedule covers the children's ------------------------------------------------
    def _idle_seconds(self) -> float | None:
        waits = [super()._idle_seconds()]
        waits += [c.session.idle_seconds(self._clock) for c in list(self.children.values())]
        due = [w for w in waits if w is not None]
        return min(due) if due else None

    def _run_pending(self) -> None:
        super()._run_pending()
        for child in list(self.children.values()):
            child.core.run_pending()
            child.session.tick_if_due(self._clock)

    # -- children's reports, sent together ---------------------------------------------------------
    def _queue_report(self, session: _ChildSession, message: ReportProperties) -> None:
        with self._reports_lock:
            self._reports.append((session, message))
            first = not self._flush_due
            self._flush_due = True
        if first:
            self.transport.loop.call_later(REPORT_WINDOW, lambda: self.worker.submit(self._flush_reports))

    def _flush_reports(self) -> None:
        with self._reports_lock:
            pending, self._reports = self._reports, []
            self._flush_due = False
        if not pending:
            return
        outgoing: list[Outgoing] = []
        for session, message in pending:
            try:
                outgoing.extend(session.codec.encode(message))
            except Exception as exc:
                session.core.report_error("encode", None, "ReportProperties", str(exc))
        if self._batch_out is not None:
            outgoing = self._batch_out(outgoing)
        for out in outgoing:
            self.transport.publish(out)
