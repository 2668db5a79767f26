"""The local cloud's device registry: which devices may connect, with their credentials.

It is kept in a JSON file, written atomically with mode 0600 because it holds secrets::

    {
      "version": 1,
      "vendor": "huawei",
      "cloud_secret": "...",
      "devices": {
        "smoke-1": {"secret": "Zq3...16 chars"},
        "thermostat-1": {"cert_sha256": "9f86d0...64 hex digits"}
      }
    }

``vendor`` is a name of ``thingmodel.vendors.VENDORS``; ``devices`` maps each device id (checked
by the vendor's id rules) to its one credential: ``secret`` for Huawei (any string; new ones are
16 random letters and digits) and Tencent (base64; new ones are 16 random bytes), ``cert_sha256``
for AWS (the SHA-256 of the thing's certificate, DER, as lowercase hex). ``cloud_secret`` is the
password of the cloud's own clients (the cloud itself, and the CLI's ``shadow`` and ``command``
given ``--registry``): made when the file is, and added on the next save to a file without one.

Also here: a local certificate authority and certificates signed by it, for a TLS listener
(:func:`make_server_certificate`) and its devices (:func:`make_device_certificate`), made with
the ``cryptography`` package.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import logging
import os
import secrets
import ssl
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import BrokerError, InvalidValue, ModelError
from ..ids import validate_id
from ..vendors import VENDORS
from .access import vendor_rules

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger("thingmodel.cloud.registry")

VERSION = 1


@attrs.frozen
class Credential:
    """What a device proves itself with: a secret, or its certificate's SHA-256 fingerprint."""

    secret: str | None = attrs.field(default=None, repr=False)
    cert_sha256: str | None = None

    def to_json(self) -> dict[str, str]:
        if self.secret is not None:
            return {"secret": self.secret}
        assert self.cert_sha256 is not None
        return {"cert_sha256": self.cert_sha256}


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


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
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelError("no such file (`thingmodel registry add` makes one)", source=source) from None
        except UnicodeDecodeError:
            raise ModelError("not UTF-8 text", source=source) from None
        except OSError as exc:
            raise ModelError(f"cannot read it ({exc.strerror})", source=source) from None
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            location = f"line {exc.lineno}, column {exc.colno}"
            raise ModelError(f"not JSON ({exc.msg})", source=source, location=location) from None
        except _Duplicate as exc:
            raise ModelError(f"key {exc.key!r} appears twice", source=source) from None
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
        for device_id, entry in devices.items():
            where = f"devices[{json.dumps(device_id, ensure_ascii=False)}]"
            try:
                rules.validate_device_id(device_id)
            except InvalidValue as exc:
                raise fail(str(exc), where) from None
            if not isinstance(entry, dict) or set(entry) != {rules.credential}:
                raise fail(f"expected {{{rules.credential!r}: ...}} for a {vendor} device", where)
            try:
                value = rules.validate_credential(entry[rules.credential])
            except InvalidValue as exc:
                raise fail(str(exc), f"{where}.{rules.credential}") from None
            entries.append((device_id, Credential(**{rules.credential: value})))
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
        replace: bool = False,
    ) -> str:
        """Register ``device_id`` and return its credential: ``secret`` (a new one in the vendor's
        format when None), or for AWS ``cert_sha256``. InvalidValue when it is registered already
        (unless ``replace``), or when an id or credential breaks the vendor's rules."""
        self.rules.validate_device_id(device_id)
        if device_id in self._devices and not replace:
            raise InvalidValue(f"device {device_id!r} is already in {self.path}")
        if self.rules.credential == "cert_sha256":
            if secret is not None or cert_sha256 is None:
                raise InvalidValue(f"{self.vendor} devices are registered by their certificate's SHA-256")
            value = self.rules.validate_credential(cert_sha256)
        else:
            if cert_sha256 is not None:
                raise InvalidValue(f"{self.vendor} devices are registered by a secret, not a certificate")
            assert self.rules.new_secret is not None
            value = self.rules.validate_credential(self.rules.new_secret() if secret is None else secret)
        self._devices[device_id] = Credential(**{self.rules.credential: value})
        return value

    def remove(self, device_id: str) -> bool:
        """Unregister ``device_id``: True when it was registered."""
        return self._devices.pop(device_id, None) is not None

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


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new, never half."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _warn_if_readable(path: Path) -> None:
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s holds device secrets but others may read it (mode %o): chmod 600 it", path, mode)


# --- certificates for a TLS listener and its devices -----------------------------------------------
def certificate_fingerprint(path: str | os.PathLike[str]) -> str:
    """The SHA-256 fingerprint (lowercase hex, of the DER bytes) of a PEM certificate file."""
    from ..vendors.aws import certificate_sha256

    try:
        der = ssl.PEM_cert_to_DER_cert(Path(path).read_text(encoding="ascii"))
    except OSError as exc:
        raise InvalidValue(f"{path}: cannot read it ({exc.strerror})") from None
    except ValueError:
        raise InvalidValue(f"{path}: not a PEM certificate") from None
    return certificate_sha256(der)


def make_ca(
    directory: str | os.PathLike[str], name: str = "thingmodel-local-ca", *, days: int = 365
) -> tuple[Path, Path]:
    """A self-signed certificate authority: ``({name}.crt, {name}.key)`` in ``directory``."""
    _require_cryptography()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        _builder(subject, subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
    )
    return _write_pair(Path(directory), name, builder.sign(key, hashes.SHA256()), key)


def make_device_certificate(
    directory: str | os.PathLike[str], ca: tuple[Path, Path], device_id: str, *, days: int = 365
) -> tuple[Path, Path]:
    """A client certificate for ``device_id`` (its common name) signed by ``ca``:
    ``({device_id}.crt, {device_id}.key)``. Register it with :func:`certificate_fingerprint`."""
    return _issue(Path(directory), ca, validate_id("device_id", device_id), (), days)


def make_server_certificate(
    directory: str | os.PathLike[str],
    ca: tuple[Path, Path],
    hosts: Iterable[str] = ("127.0.0.1", "localhost"),
    *,
    name: str = "thingmodel-server",
    days: int = 365,
) -> tuple[Path, Path]:
    """A server certificate for ``hosts`` (IP addresses or DNS names) signed by ``ca``:
    ``({name}.crt, {name}.key)``."""
    hosts = tuple(hosts)
    if not hosts:
        raise InvalidValue("a server certificate needs at least one host")
    return _issue(Path(directory), ca, name, hosts, days)


def _issue(
    directory: Path, ca: tuple[Path, Path], name: str, hosts: tuple[str, ...], days: int
) -> tuple[Path, Path]:
    """A certificate signed by ``ca``: for a server when ``hosts`` are given, else for a client."""
    _require_cryptography()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if name.startswith("."):
        raise InvalidValue(f"certificate name {name!r} must not start with '.'")
    ca_cert = x509.load_pem_x509_certificate(ca[0].read_bytes())
    ca_key = serialization.load_pem_private_key(ca[1].read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidValue(f"{ca[1]} is not a key made by make_ca (an EC key)")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    purpose = ExtendedKeyUsageOID.SERVER_AUTH if hosts else ExtendedKeyUsageOID.CLIENT_AUTH
    issuer_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    builder = (
        _builder(subject, ca_cert.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(issuer_key_id, critical=False)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _write_pair(directory, name, builder.sign(ca_key, hashes.SHA256()), key)


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise BrokerError(
            "making certificates needs the cryptography package: pip install cryptography"
        ) from None


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    from cryptography import x509

    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_pair(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    """Write ``{name}.crt`` (mode 0644) and ``{name}.key`` (mode 0600) into ``directory``."""
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomically(key_path, key_pem, mode=0o600)
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path
