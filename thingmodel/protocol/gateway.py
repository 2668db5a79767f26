"""The neutral messages of gateways and their child devices (sub-devices), both directions.

A gateway speaks for its children over its one MQTT connection. What the children themselves
say (reports, answers, events) is each child's ordinary messages, encoded by a codec made for
the child (``device_codec(vendor, device_id=child, gateway_id=gateway)``): Huawei puts them on
the gateway's topics with ``object_device_id``, Tencent and AWS on the child's own topics. What
is said *about* the children (which exist, which are online) is below, in the manner of
:mod:`.messages`: device side (gateway -> cloud), device side (cloud -> gateway), and the
platform's wrappers that name the gateway.

Huawei: ``$sub_device_manager`` events (``add_sub_device_request``, ``delete_sub_device_request``,
``sub_device_update_status``, ``sub_device_sync_request`` up; ``add_sub_device_notify``,
``delete_sub_device_notify`` and the responses down). Tencent: ``$gateway/operation``
(``bind``/``unbind``, ``online``/``offline``, ``describe_sub_devices`` up; their results and
``change`` down).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

ChildOperation = Literal["add", "remove", "status", "sync"]


@attrs.frozen
class ChildInfo:
    """One child as the gateway and the cloud describe it. ``device_id`` is its id on the cloud
    (Tencent: ``ProductId.DeviceName``); ``node_id`` its id on the gateway's own bus (Huawei; by
    default the device id); ``product_id`` its product (Huawei: required to add a child);
    ``secret``: the child's device secret, which Tencent's bind signs with (never shown);
    ``proof``: what the gateway sent to show it holds that secret, as the platform half decodes
    it (Tencent: the bind's signature fields; the cloud checks it with its codec's
    ``check_proof``; not shown)."""

    device_id: str
    product_id: str | None = None
    node_id: str | None = None
    name: str | None = None
    secret: str | None = attrs.field(default=None, repr=False)
    proof: str | None = attrs.field(default=None, repr=False)


def _children(items: Iterable[ChildInfo]) -> tuple[ChildInfo, ...]:
    return tuple(items)


def _ids(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


# --- gateway -> cloud (device side) -------------------------------------------------------------
@attrs.frozen
class AddChildren:
    """Ask the cloud to create (Huawei) or bind (Tencent) these children."""

    request_id: str
    children: tuple[ChildInfo, ...] = attrs.field(converter=_children)


@attrs.frozen
class RemoveChildren:
    """Ask the cloud to delete (Huawei) or unbind (Tencent) these children."""

    request_id: str
    device_ids: tuple[str, ...] = attrs.field(converter=_ids)


@attrs.frozen
class ChildrenStatus:
    """These children went online (True) or offline (False) (Huawei ``sub_device_update_status``,
    at most 100 a message; Tencent ``online``/``offline``)."""

    request_id: str
    online: Mapping[str, bool]


@attrs.frozen
class SyncChildren:
    """Ask for the children the cloud knows this gateway has (after a reconnect): Huawei
    ``sub_device_sync_request`` with the last ``version`` seen, Tencent ``describe_sub_devices``."""

    request_id: str
    version: int | None = None


GatewayUplink = AddChildren | RemoveChildren | ChildrenStatus | SyncChildren


# --- cloud -> gateway (device side) -------------------------------------------------------------
@attrs.frozen
class ChildrenChanged:
    """The cloud's list of this gateway's children changed (Huawei add/delete notify, Tencent
    ``change``), or is answered in full after a sync (``complete=True``: the children not named
    are gone). ``version``: Huawei's list version, for the next sync."""

    added: tuple[ChildInfo, ...] = attrs.field(default=(), converter=_children)
    removed: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    version: int | None = None
    complete: bool = False


@attrs.frozen
class ChildrenAnswered:
    """The answer to one :data:`GatewayUplink` (``request_id`` is its own; None where the
    vendor's answer does not carry it): the children it was done for, and those it failed for
    with the reason."""

    operation: ChildOperation
    request_id: str | None
    done: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    failed: Mapping[str, str] = attrs.field(factory=dict)


GatewayDownlink = ChildrenChanged | ChildrenAnswered


# --- the platform's side: the same, naming the gateway --------------------------------------------
@attrs.frozen
class GatewayAsked:
    """A gateway (``device_id``) sent one of the :data:`GatewayUplink` messages (platform codec
    decode)."""

    device_id: str
    request: GatewayUplink


@attrs.frozen
class TellGateway:
    """Send a gateway (``device_id``) one of the :data:`GatewayDownlink` messages (platform
    codec encode)."""

    device_id: str
    message: GatewayDownlink
