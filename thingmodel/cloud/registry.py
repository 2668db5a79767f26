"""The local cloud's device registry: which devices may connect, with their credentials.

It is kept in a JSON file, written atomically with mode 0600 because it holds secrets::

    {
      "version": 1,
      "vendor": "huawei",
      "cloud_secret": "...",
      "devices": {
        "smoke-1": {"secret": "Zq3...16 chars"},
        "thermostat-1": {"cert_sha256": "9f86d0...64 hex digits"},
        "gateway-1": {"cert_sha256": "...", "acts_for": ["meter-1", "meter-2"]}
      }
    }

``vendor`` is a name of ``thingmodel.vendors.VENDORS``; ``devices`` maps each device id (checked
by the vendor's id rules) to its one credential: ``secret`` for Huawei (any string; new ones are
16 random letters and digits) and Tencent (base64; new ones are 16 random bytes), ``cert_sha256``
for AWS (the SHA-256 of the thing's certificate, DER, as lowercase hex). ``cloud_secret`` is the
password of the cloud's own clients (the cloud itself, and the CLI's ``shadow`` and ``command``
given ``--registry``): made when the file is, and added on the next save to a file without one.

``acts_for`` (AWS only) lists the things whose topics the thing's connection may use besides its
own, as an AWS IoT policy granting a gateway its children's shadows would: the local cloud's
broker lets it publish and subscribe them, and its shadow service knows them (they need no
entry of their own). Huawei and Tencent gateways add their children by their protocol instead.

AWS things are registered by certificate: :mod:`.certificates` makes a local CA and certificates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidValue, ModelError
from ..jsonfile import read_json_file, write_atomically
from ..vendors import VENDORS
from .access import vendor_rules
from .gateways import MAX_CHILDREN

if TYPE_CHECKING:
    pass

log = logging.getLogger("thingmodel.cloud.registry")

VERSION = 1


@attrs.frozen
class Credential:
    """What a device proves itself with: a secret, or its certificate's SHA-256 fingerprint."""

    secret: str | None = attrs.field(default=None, repr=False)
    cert_sha256: str | None = None
    #: the other things this one's connection may act for (AWS; see the module docstring)
    acts_for: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.secret is not None:
            return {"secret": self.secret}
        assert self.cert_sha256 is not None
        if self.acts_for:
            return {"cert_sha256": self.cert_sha256, "acts_for": list(self.acts_for)}
        return {"cert_sha256": self.cert_sha256}


class Registry:
    """The devices one local cloud accepts (see the module docstring for the file).

    ``Registry.load(path)`` reads a file, ``Registry.new(path, vendor)`` starts an empty one;
    changes reach the file on :meth:`save`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        vendor: str,
        devices: Iterable[tuple[str, Credential]] = (),
        cloud_secret: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.vendor = vendor
        self.rules = vendor_rules(vendor)
        self._devices = dict(devices)
        self._actors: dict[str, str] = {}  # a thing acted for -> the thing acting for it
        for device_id, credential in self._devices.items():
            self._actors.update(dict.fromkeys(credential.acts_for, device_id))
        #: the password of the cloud's own clients (never in repr or logs)
        self.cloud_secret = cloud_secret or secrets.token_urlsafe(24)

    @classmethod
    def new(cls, path: str | os.PathLike[str], vendor: str) -> Registry:
        """An empty registry for ``vendor`` that :meth:`save` writes to ``path``."""
        if vendor not in VENDORS:
            raise InvalidValue(f"unknown vendor {vendor!r} (known: {', '.join(VENDORS)})")
        return cls(path, vendor)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Registry:
        """The registry in ``path``; ModelError naming the file and the place when it is missing or broken."""
        source = str(path)
        data = read_json_file(path, missing="no such file (`thingmodel registry add` makes one)")
        registry = cls._from_json(source, data)
        _warn_if_readable(Path(path))
        return registry

    @classmethod
    def _from_json(cls, source: str, data: Any) -> Registry:
        def fail(message: str, location: str = "") -> ModelError:
            return ModelError(message, source=source, location=location)

        if not isinstance(data, dict):
            raise fail("expected a JSON object with version, vendor and devices")
        for key in data:
            if key not in ("version", "vendor", "cloud_secret", "devices"):
                raise fail("unknown key (expected version, vendor, cloud_secret and devices)", key)
        version = data.get("version")
        if version != VERSION:
            raise fail(f"version {version!r} is not supported (this thingmodel reads {VERSION})", "version")
        vendor = data.get("vendor")
        if vendor not in VENDORS:
            raise fail(f"unknown vendor {vendor!r} (known: {', '.join(VENDORS)})", "vendor")
        devices = data.get("devices")
        if not isinstance(devices, dict):
            raise fail("expected an object of device id -> credential", "devices")
        cloud_secret = data.get("cloud_secret")
        if cloud_secret is not None and (not isinstance(cloud_secret, str) or len(cloud_secret) < 16):
            raise fail("expected a string of at least 16 characters", "cloud_secret")
        rules = vendor_rules(vendor)
        entries = []
        acted: dict[str, str] = {}
        for device_id, entry in devices.items():
            where = f"devices[{json.dumps(device_id, ensure_ascii=False)}]"
            try:
                rules.validate_device_id(device_id)
            except InvalidValue as exc:
                raise fail(str(exc), where) from None
            keys = {rules.credential, "acts_for"} if vendor == "aws" else {rules.credential}
            if not isinstance(entry, dict) or rules.credential not in entry or not set(entry) <= keys:
                also = " and optionally 'acts_for': [thing, ...]" if vendor == "aws" else ""
                raise fail(f"expected {{{rules.credential!r}: ...}}{also} for a {vendor} device", where)
            try:
                value = rules.validate_credential(entry[rules.credential])
            except InvalidValue as exc:
                raise fail(str(exc), f"{where}.{rules.credential}") from None
            try:
                acts_for = _acts_for(rules, device_id, entry.get("acts_for", []), acted)
            except InvalidValue as exc:
                raise fail(str(exc), f"{where}.acts_for") from None
            entries.append((device_id, Credential(**{rules.credential: value}, acts_for=acts_for)))
        return cls(source, vendor, entries, cloud_secret)

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r}, vendor={self.vendor!r}, {len(self._devices)} devices)"

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def __len__(self) -> int:
        return len(self._devices)

    def add(
        self,
        device_id: str,
        secret: str | None = None,
        *,
        cert_sha256: str | None = None,
        acts_for: Iterable[str] = (),
        replace: bool = False,
    ) -> str:
        """Register ``device_id`` and return its credential: ``secret`` (a new one in the vendor's
        format when None), or for AWS ``cert_sha256`` and the things it ``acts_for``. InvalidValue
        when it is registered already (unless ``replace``), or when an id or credential breaks the
        vendor's rules."""
        self.rules.validate_device_id(device_id)
        if device_id in self._devices and not replace:
            raise InvalidValue(f"device {device_id!r} is already in {self.path}")
        acting = self.check_acts_for(device_id, acts_for)
        if self.rules.credential == "cert_sha256":
            if secret is not None or cert_sha256 is None:
                raise InvalidValue(f"{self.vendor} devices are registered by their certificate's SHA-256")
            value = self.rules.validate_credential(cert_sha256)
        else:
            if cert_sha256 is not None:
                raise InvalidValue(f"{self.vendor} devices are registered by a secret, not a certificate")
            assert self.rules.new_secret is not None
            value = self.rules.validate_credential(self.rules.new_secret() if secret is None else secret)
        self.remove(device_id)
        self._devices[device_id] = Credential(**{self.rules.credential: value}, acts_for=acting)
        self._actors.update(dict.fromkeys(acting, device_id))
        return value

    def remove(self, device_id: str) -> bool:
        """Unregister ``device_id``: True when it was registered."""
        credential = self._devices.pop(device_id, None)
        if credential is None:
            return False
        for child in credential.acts_for:
            self._actors.pop(child, None)
        return True

    def check_acts_for(self, device_id: str, things: Iterable[str]) -> tuple[str, ...]:
        """``things`` as ``device_id`` may act for them (each once, in order); InvalidValue says
        why not: not an AWS registry, a bad thing name, the thing itself, or one another thing
        acts for already."""
        things = list(things)
        if things and self.vendor != "aws":
            raise InvalidValue(
                f"acts_for is for aws things: {self.vendor} gateways add their children themselves"
            )
        others = {child: actor for child, actor in self._actors.items() if actor != device_id}
        return _acts_for(self.rules, device_id, things, others)

    def actor_for(self, device_id: str) -> str | None:
        """The registered thing that acts for ``device_id`` (None: none does)."""
        return self._actors.get(device_id)

    def get(self, device_id: str) -> Credential | None:
        """The credential of ``device_id``, or None when it is not registered."""
        return self._devices.get(device_id)

    def devices(self) -> list[str]:
        """The registered device ids, sorted."""
        return sorted(self._devices)

    def save(self) -> None:
        """Write the file atomically (a temporary file beside it, then a rename), mode 0600."""
        data = {
            "version": VERSION,
            "vendor": self.vendor,
            "cloud_secret": self.cloud_secret,
            "devices": {device_id: self._devices[device_id].to_json() for device_id in self.devices()},
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        try:
            write_atomically(self.path, text.encode(), mode=0o600)
        except OSError as exc:
            raise ModelError(f"cannot write it ({exc.strerror})", source=str(self.path)) from None


def _acts_for(rules: Any, device_id: str, things: object, taken: dict[str, str]) -> tuple[str, ...]:
    """``things`` checked as what ``device_id`` acts for (``taken``: those others act for, which
    this call adds to); InvalidValue says why not."""
    if not isinstance(things, list) or not all(isinstance(thing, str) for thing in things):
        raise InvalidValue("expected a list of thing names")
    if len(things) > MAX_CHILDREN:  # as the cloud's book bounds a gateway's children
        raise InvalidValue(f"{len(things)} things: at most {MAX_CHILDREN}")
    for thing in things:
        rules.validate_device_id(thing)
        if thing == device_id:
            raise InvalidValue(f"{device_id!r} acts for itself already")
        if taken.get(thing, device_id) != device_id:
            raise InvalidValue(f"{thing!r} is acted for by {taken[thing]!r} already")
        taken[thing] = device_id
    return tuple(dict.fromkeys(things))


def _warn_if_readable(path: Path) -> None:
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s holds device secrets but others may read it (mode %o): chmod 600 it", path, mode)
