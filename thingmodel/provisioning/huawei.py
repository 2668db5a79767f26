"""Huawei IoTDA device provisioning (the IoTDP bootstrap): both ends, sans-IO, and ``provision()``.

The wire (huawei-iotda.md 1.1, 1.2 and 5; Huawei's Python SDK ``client/device_client.py``):

- The device connects to the bootstrap server. Standard bootstrap (``bs_mode`` 1) signs in as a
  direct connection does: client id ``{device_id}_0_{0|1}_{YYYYMMDDHH}``, username the device id,
  password ``HMAC-SHA256(key=stamp, msg=secret)``. A registration group (``bs_mode`` 2, "scope
  id") signs in with client id ``{device_id}_0_{scope_id}_0_{YYYYMMDDHH}`` and the secret
  derived from the group's: ``HMAC-SHA256(key=device_id, msg=base64decode(group_secret))`` as
  hex (:func:`derived_secret`).
- It subscribes to ``$oc/devices/{id}/sys/bootstrap/down`` and publishes
  ``$oc/devices/{id}/sys/bootstrap/up``: empty, or the static-policy message (a JSON object
  such as ``{"baseStrategyKeyword": "..."}``).
- The server answers on ``bootstrap/down`` with ``{"address": "host:port", "deviceSecret":
  "..."}``; the device disconnects and connects to that address with that secret (without a
  ``deviceSecret`` it keeps the one it has: the bootstrap secret, or the group's derived one).

Certificate sign-in (X.509) to the bootstrap server is not covered: the local cloud's Huawei
devices sign in with secrets. The group mode's client id has no sign type, so its hour stamp
is only signed, not checked (as IoTDA's sign type 0).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import CodecError, InvalidValue
from ..ids import validate_id
from ..protocol.jsonwire import dumps, loads_object
from ..protocol.messages import Outgoing
from ..transport import TlsOptions
from ..vendors import huawei as iotda
from .credentials import Provisioned, ProvisioningError, stored
from .session import MqttExchange

log = logging.getLogger("thingmodel.provisioning")

VENDOR = "huawei"
#: the largest ``bootstrap/up`` and ``bootstrap/down`` payload either end accepts (ours)
MAX_PAYLOAD = 4096
_GROUP_TAIL = re.compile(r"(?P<scope>.+)_0_(?P<stamp>[0-9]{10})")


# --- both ends -----------------------------------------------------------------------------------
def up_topic(device_id: str) -> str:
    return f"$oc/devices/{validate_id('device_id', device_id)}/sys/bootstrap/up"


def down_topic(device_id: str) -> str:
    return f"$oc/devices/{validate_id('device_id', device_id)}/sys/bootstrap/down"


def derived_secret(device_id: str, group_secret: str) -> str:
    """A registration group member's secret: HMAC-SHA256 keyed by its device id, of the group's
    secret (base64-decoded), as lowercase hex. InvalidValue for a group secret that is not base64."""
    try:
        key = base64.b64decode(group_secret.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValue("a registration group secret must be base64 (as the console shows it)") from None
    return hmac.new(device_id.encode(), key, hashlib.sha256).hexdigest()


def group_client_id(device_id: str, scope_id: str, stamp: str) -> str:
    """``{device_id}_0_{scope_id}_0_{YYYYMMDDHH}``: a registration group member's client id."""
    validate_id("device_id", device_id)
    validate_id("scope_id", scope_id)
    return f"{device_id}_0_{scope_id}_0_{stamp}"


# --- the device half -----------------------------------------------------------------------------
def bootstrap_credentials(
    device_id: str,
    stamp: str,
    *,
    secret: str | None = None,
    scope_id: str | None = None,
    group_secret: str | None = None,
    check_timestamp: bool = True,
) -> tuple[str, str, str]:
    """``(client id, username, password)`` for the bootstrap server: standard bootstrap with the
    device's ``secret``, or a registration group with ``scope_id`` and ``group_secret``."""
    if scope_id is not None and group_secret is not None and secret is None:
        own = derived_secret(device_id, group_secret)
        return group_client_id(device_id, scope_id, stamp), device_id, iotda.password(own, stamp)
    if secret is not None and scope_id is None and group_secret is None:
        return (
            iotda.client_id(device_id, stamp, check_timestamp=check_timestamp),
            device_id,
            iotda.password(secret, stamp),
        )
    raise InvalidValue(
        "bootstrap with a secret (standard), or with scope_id and group_secret (group): one of them"
    )


def bootstrap_request(device_id: str, static_policy: Mapping[str, Any] | None = None) -> Outgoing:
    """``bootstrap/up``: empty, or the static-policy message (a JSON object)."""
    payload = b"" if static_policy is None else dumps(dict(static_policy))
    if len(payload) > MAX_PAYLOAD:
        raise InvalidValue(f"the static-policy message is {len(payload)} bytes (at most {MAX_PAYLOAD})")
    return Outgoing(up_topic(device_id), payload)


@attrs.frozen
class BootstrapAnswer:
    """What the bootstrap server said: where to connect, and with which secret."""

    host: str
    port: int
    device_secret: str | None = attrs.field(repr=False)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as ``(host, port)``; CodecError naming what is wrong."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CodecError(f"address {address[:80]!r} is not host:port")
    if any(c.isspace() or c in "/?#@" for c in host):
        raise CodecError(f"address {address[:80]!r} has a host that is not a host name or IP address")
    return host, int(port)


def read_bootstrap_answer(device_id: str, topic: str, payload: bytes) -> BootstrapAnswer:
    """The ``bootstrap/down`` answer; ProvisioningError saying what is wrong with it."""
    if topic != down_topic(device_id):
        raise ProvisioningError(
            f"bootstrap of {device_id}: an answer on {topic!r}, not on its bootstrap/down"
        )
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
        address = body.get("address")
        if not isinstance(address, str):
            raise CodecError("the answer has no 'address' (host:port)")
        host, port = parse_address(address)
        secret = body.get("deviceSecret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise CodecError("'deviceSecret' must be a non-empty string")
    except CodecError as exc:
        raise ProvisioningError(f"bootstrap of {device_id}: a bad answer: {exc}") from None
    return BootstrapAnswer(host, port, secret)


def provision(
    device_id: str,
    *,
    host: str,
    port: int = 8883,
    secret: str | None = None,
    scope_id: str | None = None,
    group_secret: str | None = None,
    static_policy: Mapping[str, Any] | None = None,
    ca_file: str | None = None,
    tls: bool | None = None,
    insecure: bool = False,
    check_timestamp: bool = True,
    timeout: float = 30.0,
    store: str | os.PathLike[str] | None = None,
) -> Provisioned:
    """Bootstrap ``device_id`` on the bootstrap server ``host:port`` and return the credentials
    it gave (saved to ``store``, which a later call reads instead of bootstrapping again).

    Standard bootstrap signs in with the device's ``secret``; a registration group with
    ``scope_id`` and ``group_secret``. TLS unless ``port=1883`` (``tls`` says it for other
    ports), verified with ``ca_file`` or the system's store. ProvisioningError when the server
    refuses, does not answer within ``timeout`` seconds, or answers badly.
    """
    found = stored(store, VENDOR, device_id)
    if found is not None:
        return found
    validate_id("device_id", device_id)
    bootstrap_credentials(  # a wrong combination fails here, before connecting
        device_id, iotda.timestamp(), secret=secret, scope_id=scope_id, group_secret=group_secret
    )
    use_tls = port != 1883 if tls is None else tls
    scheme = "mqtts" if use_tls else "mqtt"

    def credentials() -> tuple[str, str | None, str | None]:
        return bootstrap_credentials(
            device_id,
            iotda.timestamp(),
            secret=secret,
            scope_id=scope_id,
            group_secret=group_secret,
            check_timestamp=check_timestamp,
        )

    options = TlsOptions(ca_file, None, None, insecure) if use_tls else None
    what = f"bootstrap of {device_id}"
    with MqttExchange(f"{scheme}://{host}:{port}", credentials, tls=options, timeout=timeout, what=what) as x:
        x.subscribe([down_topic(device_id)])
        topic, payload = x.ask(bootstrap_request(device_id, static_policy), {down_topic(device_id)})
    answer = read_bootstrap_answer(device_id, topic, payload)
    own = answer.device_secret
    if own is None:
        own = secret if secret is not None else derived_secret(device_id, group_secret or "")
    # IoTDA's ports say TLS or not; any other port is served as the bootstrap server was
    new_tls = {8883: True, 1883: False}.get(answer.port, use_tls)
    provisioned = Provisioned(
        VENDOR,
        device_id,
        f"{'mqtts' if new_tls else 'mqtt'}://{answer.address}",
        own,
        ca_file=ca_file if new_tls else None,
        extra={"bootstrap": "group" if scope_id is not None else "standard"},
    )
    log.info("%s bootstrapped: connect to %s", device_id, answer.address)
    if store is not None:
        provisioned.save(store)
    return provisioned


# --- the platform half ---------------------------------------------------------------------------
@attrs.frozen
class BootstrapRequest:
    """A device asked the bootstrap server where to connect."""

    device_id: str
    static_policy: dict[str, Any] | None


def parse_bootstrap_request(topic: str, payload: bytes) -> BootstrapRequest | None:
    """The request on ``$oc/devices/{id}/sys/bootstrap/up`` (None for any other topic);
    CodecError for a payload that is neither empty nor a JSON object."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[:2] != ["$oc", "devices"] or parts[3:] != ["sys", "bootstrap", "up"]:
        return None
    try:
        device_id = validate_id("device_id", parts[2])
    except InvalidValue as exc:
        raise CodecError(str(exc)) from None
    if not payload.strip():
        return BootstrapRequest(device_id, None)
    return BootstrapRequest(device_id, loads_object(payload, limit=MAX_PAYLOAD))


def bootstrap_answer(device_id: str, host: str, port: int, device_secret: str | None) -> Outgoing:
    """``bootstrap/down``: ``{"address": "host:port", "deviceSecret": "..."}``."""
    body: dict[str, Any] = {"address": BootstrapAnswer(host, port, None).address}
    if device_secret is not None:
        body["deviceSecret"] = device_secret
    return Outgoing(down_topic(device_id), dumps(body))


def parse_group_client_id(client_id: str, username: str | None) -> tuple[str, str, str] | None:
    """``(device_id, scope_id, stamp)`` of a group member's client id (its username is its
    device id), else None."""
    if not username or not client_id.startswith(f"{username}_0_"):
        return None
    match = _GROUP_TAIL.fullmatch(client_id[len(username) + 3 :])
    return None if match is None else (username, match["scope"], match["stamp"])


def check_group_credentials(
    group_secret: str, client_id: str, username: str | None, password: str | None
) -> str | None:
    """None when a group member signed in with the secret derived from ``group_secret``, else
    the reason (never showing a secret)."""
    parsed = parse_group_client_id(client_id, username)
    if parsed is None:
        return "the client id is not {device_id}_0_{scope_id}_0_{YYYYMMDDHH} with username = device id"
    if password is None:
        return "no password sent"
    device_id, scope_id, stamp = parsed
    expected = iotda.password(derived_secret(device_id, group_secret), stamp)
    if not hmac.compare_digest(expected.encode(), password.encode()):
        return f"wrong password (not signed with the secret of registration group {scope_id!r})"
    return None
