"""Certificates for the local cloud's TLS listener and its devices, from a local CA.

AWS things sign in by their X.509 certificate: :func:`local_pki` makes (once) a CA, a server
certificate for the listener and a client certificate for the cloud's own connection;
:func:`make_device_certificate` issues a thing's certificate, which the registry keeps by its
:func:`certificate_fingerprint`. Made with the ``cryptography`` package (the ``local`` extra).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..errors import BrokerError, InvalidValue
from ..ids import validate_id
from ..jsonfile import write_atomically

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

CA_NAME = "thingmodel-local-ca"
SERVER_NAME = "thingmodel-server"
CLOUD_CLIENT_NAME = "thingmodel-cloud"


@attrs.frozen
class LocalPki:
    """The files of a local CA directory (each a ``(certificate, key)`` pair)."""

    ca: tuple[Path, Path]
    server: tuple[Path, Path]
    cloud_client: tuple[Path, Path]


def local_pki(
    directory: str | os.PathLike[str], hosts: Iterable[str] = ("127.0.0.1", "localhost")
) -> LocalPki:
    """The CA, server and cloud-client certificates in ``directory``, made where missing
    (an existing CA is kept, so device certificates it signed stay valid)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)

    def pair(name: str) -> tuple[Path, Path]:
        return folder / f"{name}.crt", folder / f"{name}.key"

    def exists(name: str) -> bool:
        return all(path.exists() for path in pair(name))

    ca = pair(CA_NAME) if exists(CA_NAME) else make_ca(folder, CA_NAME)
    server = pair(SERVER_NAME) if exists(SERVER_NAME) else make_server_certificate(folder, ca, hosts)
    client = pair(CLOUD_CLIENT_NAME)
    if not exists(CLOUD_CLIENT_NAME):
        client = _issue(folder, ca, CLOUD_CLIENT_NAME, (), 365)
    return LocalPki(ca, server, client)


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
