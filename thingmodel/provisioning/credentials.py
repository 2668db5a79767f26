"""What a device was given when it was provisioned, kept in a file it reads on every later boot.

:class:`Provisioned` is vendor-neutral: the vendor, the device's id on it, the broker to connect
to, and its credential (a secret, or a certificate and key in PEM files beside the store). It
is written as JSON, atomically and with mode 0600, since it holds a secret::

    {"version": 1, "vendor": "huawei", "device_id": "dev-1", "broker": "mqtts://host:8883",
     "secret": "...", "cert_file": null, "key_file": null, "ca_file": "ca.pem", "extra": {}}

:meth:`Provisioned.device_options` gives the keyword arguments of ``Device.for_huawei`` /
``for_aws`` / ``for_tencent``, and :meth:`Provisioned.device` builds the device at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidValue, ModelError, NotSupported, ThingModelError
from ..jsonfile import read_json_file, write_atomically
from ..transport import BrokerAddress
from ..vendors import VENDORS, vendor

if TYPE_CHECKING:
    from ..declare.service import Service
    from ..device import Device

log = logging.getLogger("thingmodel.provisioning")

VERSION = 1
_KEYS = ("version", "vendor", "device_id", "broker", "secret", "cert_file", "key_file", "ca_file", "extra")


class ProvisioningError(ThingModelError):
    """Provisioning did not end with credentials: the message says at which step and why."""


class Refused(ProvisioningError):
    """The provisioning service refused a request: its error ``code`` and ``message`` as the
    vendor puts them on the wire (and AWS's ``status``). The platform halves raise it too, and
    the local cloud's service answers it in the vendor's error shape."""

    def __init__(self, code: str, message: str, *, status: int | None = None, what: str = "") -> None:
        self.code, self.message, self.status = code, message, status
        prefix = f"{what} refused: " if what else ""
        super().__init__(f"{prefix}{code}: {message}")


def _hidden(value: object) -> str:
    return "None" if value is None else "'***'"


def _check_vendor(value: str) -> str:
    if value not in VENDORS:
        raise InvalidValue(f"unknown vendor {value!r} (known: {', '.join(VENDORS)})")
    return value


@attrs.frozen
class Provisioned:
    """The credentials a provisioning service gave one device (see the module docstring)."""

    vendor: str = attrs.field(converter=_check_vendor)
    """A name of ``thingmodel.vendors.VENDORS``."""
    device_id: str
    """Huawei's device id, AWS's thing name, Tencent's ``ProductId.DeviceName``."""
    broker: str
    """``mqtt://host:port`` or ``mqtts://host:port``."""
    secret: str | None = attrs.field(default=None, repr=_hidden)
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    """The CA the device verifies the broker with (None: the system's store)."""
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    """What else the service said (AWS: ``certificateId``, ``deviceConfiguration``)."""

    def __attrs_post_init__(self) -> None:
        BrokerAddress.parse(self.broker)  # ValueError naming the URL
        if self.secret is None and not (self.cert_file and self.key_file):
            raise InvalidValue(
                f"credentials of {self.device_id!r} need a secret or a certificate and its key"
            )

    # -- the file ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "vendor": self.vendor,
            "device_id": self.device_id,
            "broker": self.broker,
            "secret": self.secret,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
            "ca_file": self.ca_file,
            "extra": dict(self.extra),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the credentials to ``path`` atomically, mode 0600 (its directory is made, 0700)."""

        target = Path(path)
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomically(target, text.encode(), mode=0o600)
        except OSError as exc:
            raise ModelError(f"cannot write it ({exc.strerror})", source=str(target)) from None
        log.info("credentials of %s saved to %s", self.device_id, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Provisioned:
        """The credentials in ``path``; ModelError naming the file and what is wrong with it."""
        source = str(path)
        data = read_json_file(path, missing="no such file (the device has not been provisioned)")
        if not isinstance(data, dict):
            raise ModelError("expected a JSON object of provisioned credentials", source=source)
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ModelError(f"unknown key (expected {', '.join(_KEYS)})", source=source, location=unknown[0])
        if data.get("version") != VERSION:
            raise ModelError(
                f"version {data.get('version')!r} is not {VERSION}", source=source, location="version"
            )
        for key in ("vendor", "device_id", "broker"):
            if not isinstance(data.get(key), str):
                raise ModelError("expected a string", source=source, location=key)
        for key in ("secret", "cert_file", "key_file", "ca_file"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ModelError("expected a string or null", source=source, location=key)
        extra = data.get("extra") or {}
        if not isinstance(extra, dict):
            raise ModelError("expected an object", source=source, location="extra")
        try:
            loaded = cls(
                data["vendor"],
                data["device_id"],
                data["broker"],
                data.get("secret"),
                data.get("cert_file"),
                data.get("key_file"),
                data.get("ca_file"),
                extra,
            )
        except ValueError as exc:
            raise ModelError(str(exc), source=source) from None
        _warn_if_readable(Path(path), "holds a device secret" if loaded.secret else "names a device key")
        if loaded.key_file:
            _warn_if_readable(Path(loaded.key_file), "is a private key")
        return loaded

    # -- the device ----------------------------------------------------------------------------
    def device_options(self) -> dict[str, Any]:
        """The keyword arguments of ``Device.for_huawei``, ``for_aws`` or ``for_tencent``
        (without ``services``) that connect with these credentials."""
        address = BrokerAddress.parse(self.broker)
        module = vendor(self.vendor).module
        if module == "aws":
            if not (self.cert_file and self.key_file):
                raise NotSupported(
                    f"AWS thing {self.device_id!r} signs in by certificate: none was provisioned"
                )
            return {
                "thing_name": self.device_id,
                "endpoint": address.host,
                "port": address.port,
                "cert_file": self.cert_file,
                "key_file": self.key_file,
                "ca_file": self.ca_file,
            }
        if self.secret is None:
            raise NotSupported(
                f"{self.vendor} device {self.device_id!r} was given a certificate, but Device.for_"
                f"{module} signs in with a secret"
            )
        common = {"secret": self.secret, "host": address.host, "port": address.port, "tls": address.tls}
        if address.tls:
            common["ca_file"] = self.ca_file
        if module == "huawei":
            return {"device_id": self.device_id, **common}
        product_id, _, name = self.device_id.partition(".")
        return {
            "product_id": product_id,
            "device_name": name,
            "explorer": self.vendor == "tencent-explorer",
            **common,
        }

    def device(self, services: Sequence[Service], **options: Any) -> Device:
        """A :class:`~thingmodel.device.Device` with these credentials (``options`` go to the
        vendor's factory too)."""
        from ..device import Device

        factory = {"huawei": Device.for_huawei, "aws": Device.for_aws, "tencent": Device.for_tencent}
        return factory[vendor(self.vendor).module](services=services, **self.device_options(), **options)


def stored(
    store: str | os.PathLike[str] | None, vendor_name: str, device_id: str | None = None
) -> Provisioned | None:
    """The credentials already in ``store`` (a device's second boot), or None when there is no
    such file. InvalidValue when they are another vendor's or another device's: a device never
    silently provisions itself again over credentials it cannot use."""
    if store is None or not Path(store).exists():
        return None
    found = Provisioned.load(store)
    if vendor(found.vendor).module != vendor(vendor_name).module:
        raise InvalidValue(f"{store} holds credentials for {found.vendor}, not {vendor_name}")
    if device_id is not None and found.device_id != device_id:
        raise InvalidValue(f"{store} holds the credentials of {found.device_id!r}, not {device_id!r}")
    for name in (found.cert_file, found.key_file):
        if name and not Path(name).is_file():
            raise InvalidValue(f"{store} names {name}, which is missing: provision the device again")
    log.info("%s: using the credentials stored in %s", found.device_id, store)
    return found


def write_secret_file(path: Path, data: bytes, *, private: bool) -> None:
    """Write a PEM file atomically: mode 0600 for a private key, 0644 for a certificate."""

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, data, mode=0o600 if private else 0o644)
    except OSError as exc:
        raise ProvisioningError(f"cannot write {path} ({exc.strerror})") from None


def _warn_if_readable(path: Path, what: str) -> None:
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s %s but others may read it (mode %o): chmod 600 it", path, what, mode)
