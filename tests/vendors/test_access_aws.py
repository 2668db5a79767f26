"""AWS IoT's platform-side access rules: thing names, certificate fingerprints, topics; and the
local CA and certificates made for a TLS listener, checked with a real (in-memory) mTLS handshake."""

from __future__ import annotations

import hashlib
import ssl
import stat
from pathlib import Path

import pytest

from thingmodel import InvalidValue
from thingmodel.cloud.access import filter_within
from thingmodel.cloud.certificates import (
    certificate_fingerprint,
    make_ca,
    make_device_certificate,
    make_server_certificate,
)
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors import device_codec
from thingmodel.vendors.aws import (
    check_certificate,
    device_topics,
    identify,
    implicit_subscriptions,
    validate_fingerprint,
)

DER = b"0\x82 pretend this is a DER certificate"


def test_the_registered_fingerprint_accepts_its_certificate() -> None:
    assert check_certificate(hashlib.sha256(DER).hexdigest(), DER) is None


def test_another_certificate_or_none_is_refused() -> None:
    reason = check_certificate(hashlib.sha256(b"another certificate").hexdigest(), DER)
    assert reason is not None and "not the registered one" in reason
    assert check_certificate(hashlib.sha256(DER).hexdigest(), None) == "no client certificate presented"


def test_fingerprints_with_colons_and_upper_case_are_accepted() -> None:
    digest = hashlib.sha256(DER).hexdigest()
    colons = ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()
    assert validate_fingerprint(colons) == digest
    with pytest.raises(InvalidValue, match="SHA-256"):
        validate_fingerprint("abc")


@pytest.mark.parametrize(
    ("cid", "expected"), [("thermostat-1", "thermostat-1"), ("a:b_c-d", "a:b_c-d"), ("a/b", None), ("", None)]
)
def test_identify_is_the_client_id_when_it_is_a_thing_name(cid: str, expected: str | None) -> None:
    assert identify(cid, None) == expected


def test_no_implicit_subscriptions_since_aws_sdks_subscribe() -> None:
    assert implicit_subscriptions("thermostat-1") == []


def test_a_thing_keeps_to_its_shadows_and_commands() -> None:
    publish, subscribe = device_topics("t1")
    codec = device_codec("aws", device_id="t1", service_ids=["heating", "fan"])
    assert all(any(filter_within(f, outer) for outer in subscribe) for f in codec.subscriptions())
    for out in codec.encode(ev.ReportProperties({"heating": {"on": True}})):
        assert any(topic_matches(f, out.topic) for f in publish)
    assert not any(topic_matches(f, "$aws/things/t2/shadow/update") for f in publish)


@pytest.mark.parametrize(
    "topic_filter", ["$aws/things/+/shadow/#", "$aws/commands/things/+/executions/#", "$aws/#", "#"]
)
def test_subscriptions_reaching_another_thing_are_not_within_its_own(topic_filter: str) -> None:
    _, subscribe = device_topics("t1")
    assert not any(filter_within(topic_filter, outer) for outer in subscribe)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """Run a TLS handshake between two in-memory ends; the server's end once done."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client_end), ("server", server_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return server_end
    raise AssertionError("the handshake did not finish")


def test_a_generated_ca_and_device_certificate_pass_mutual_tls_and_match_the_fingerprint(
    tmp_path: Path,
) -> None:
    ca = make_ca(tmp_path)
    server_cert, server_key = make_server_certificate(tmp_path, ca, ["127.0.0.1", "localhost"])
    device_cert, device_key = make_device_certificate(tmp_path, ca, "thermostat-1")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(server_cert, server_key)
    server.load_verify_locations(ca[0])
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(ca[0]))
    client.load_cert_chain(device_cert, device_key)

    peer = _handshake(server, client).getpeercert(binary_form=True)

    assert peer is not None
    assert check_certificate(certificate_fingerprint(device_cert), peer) is None
    assert check_certificate(certificate_fingerprint(server_cert), peer) is not None


def test_generated_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    _, device_key = make_device_certificate(tmp_path, ca, "thermostat-1")
    assert stat.S_IMODE(ca[1].stat().st_mode) == 0o600
    assert stat.S_IMODE(device_key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "thermostat-1.crt",
        "thermostat-1.key",
        "thingmodel-local-ca.crt",
        "thingmodel-local-ca.key",
    ]


def test_a_device_certificate_signed_by_another_ca_fails_the_handshake(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    other = make_ca(tmp_path, "other-ca")
    server_cert, server_key = make_server_certificate(tmp_path, ca)
    device_cert, device_key = make_device_certificate(tmp_path, other, "intruder")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(server_cert, server_key)
    server.load_verify_locations(ca[0])
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(ca[0]))
    client.load_cert_chain(device_cert, device_key)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(server, client)
