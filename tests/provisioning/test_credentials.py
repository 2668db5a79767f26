"""Provisioned credentials: the file (atomic, 0600), the redacted repr, a second boot's read."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from thingmodel import Property, Service
from thingmodel.device import Device
from thingmodel.errors import InvalidValue, ModelError, NotSupported
from thingmodel.provisioning import Provisioned
from thingmodel.provisioning.credentials import stored, write_secret_file

SECRET = "s3cret-value-123"


class Lamp(Service):
    service_id = "lamp"
    on = Property(int, default=0)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def huawei_credentials() -> Provisioned:
    return Provisioned("huawei", "dev-1", "mqtts://iot.example:8883", SECRET, ca_file="ca.pem")


def test_the_file_is_written_with_mode_0600_and_reads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "state" / "credentials.json"
    huawei_credentials().save(path)
    assert mode(path) == 0o600
    assert Provisioned.load(path) == huawei_credentials()


def test_saving_again_replaces_the_file_in_one_step_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    huawei_credentials().save(path)
    Provisioned("huawei", "dev-1", "mqtt://127.0.0.1:1883", "other-secret").save(path)
    assert Provisioned.load(path).secret == "other-secret"
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]


def test_the_repr_hides_the_secret() -> None:
    shown = repr(huawei_credentials())
    assert SECRET not in shown and "secret='***'" in shown and "dev-1" in shown


def test_credentials_need_a_secret_or_a_certificate_and_key() -> None:
    with pytest.raises(InvalidValue, match="need a secret or a certificate"):
        Provisioned("aws", "thing-1", "mqtts://x:8883", cert_file="c.pem")


def test_an_unknown_vendor_or_a_bad_broker_url_is_refused() -> None:
    with pytest.raises(InvalidValue, match="unknown vendor 'azure'"):
        Provisioned("azure", "d", "mqtt://x:1883", SECRET)
    with pytest.raises(ValueError, match="must look like mqtt://host:port"):
        Provisioned("huawei", "d", "http://x", SECRET)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        (
            '{"version": 1, "vendor": "huawei", "device_id": "d", "broker": "mqtt://x:1", "pin": 1}',
            "unknown key",
        ),
        ('{"version": 2, "vendor": "huawei", "device_id": "d", "broker": "mqtt://x:1"}', "version 2"),
        ('{"version": 1, "vendor": "huawei", "device_id": 5, "broker": "mqtt://x:1"}', "expected a string"),
        ('{"version": 1, "vendor": "huawei", "device_id": "d", "broker": "mqtt://x:1"}', "need a secret"),
    ],
)
def test_a_broken_file_is_a_model_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=message) as caught:
        Provisioned.load(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_says_the_device_is_not_provisioned(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="has not been provisioned"):
        Provisioned.load(tmp_path / "none.json")


def test_a_file_others_may_read_is_loaded_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "credentials.json"
    huawei_credentials().save(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        Provisioned.load(path)
    assert any("chmod 600" in r.getMessage() and SECRET not in r.getMessage() for r in caplog.records)


def test_a_private_key_file_is_0600_and_a_certificate_0644(tmp_path: Path) -> None:
    write_secret_file(tmp_path / "k.key", b"-----BEGIN PRIVATE KEY-----\n", private=True)
    write_secret_file(tmp_path / "c.pem", b"-----BEGIN CERTIFICATE-----\n", private=False)
    assert mode(tmp_path / "k.key") == 0o600 and mode(tmp_path / "c.pem") == 0o644


# -- a second boot --------------------------------------------------------------------------------
def test_stored_credentials_are_returned_when_the_store_holds_them(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    assert stored(path, "huawei", "dev-1") is None
    huawei_credentials().save(path)
    assert stored(path, "huawei", "dev-1") == huawei_credentials()


def test_stored_credentials_of_another_device_or_vendor_are_an_error_not_a_new_provisioning(
    tmp_path: Path,
) -> None:
    path = tmp_path / "credentials.json"
    huawei_credentials().save(path)
    with pytest.raises(InvalidValue, match="the credentials of 'dev-1', not 'dev-2'"):
        stored(path, "huawei", "dev-2")
    with pytest.raises(InvalidValue, match="credentials for huawei, not aws"):
        stored(path, "aws")


def test_stored_certificate_credentials_whose_key_file_is_gone_are_an_error(tmp_path: Path) -> None:
    cert, key = tmp_path / "t.cert.pem", tmp_path / "t.private.key"
    cert.write_text("cert")
    path = tmp_path / "credentials.json"
    Provisioned("aws", "t", "mqtts://x:8883", cert_file=str(cert), key_file=str(key)).save(path)
    with pytest.raises(InvalidValue, match="which is missing: provision the device again"):
        stored(path, "aws")


# -- the device's options -------------------------------------------------------------------------
def test_huawei_options_fit_device_for_huawei() -> None:
    options = huawei_credentials().device_options()
    assert options == {
        "device_id": "dev-1",
        "secret": SECRET,
        "host": "iot.example",
        "port": 8883,
        "tls": True,
        "ca_file": "ca.pem",
    }
    device = Provisioned("huawei", "dev-1", "mqtt://127.0.0.1:1883", SECRET).device([Lamp()])
    assert isinstance(device, Device) and device.device_id == "dev-1" and device.vendor == "huawei"


def test_aws_options_fit_device_for_aws(tmp_path: Path) -> None:
    creds = Provisioned("aws", "thing-1", "mqtts://127.0.0.1:8883", cert_file="c.pem", key_file="k.key")
    assert creds.device_options() == {
        "thing_name": "thing-1",
        "endpoint": "127.0.0.1",
        "port": 8883,
        "cert_file": "c.pem",
        "key_file": "k.key",
        "ca_file": None,
    }


def test_tencent_options_fit_device_for_tencent() -> None:
    creds = Provisioned("tencent-hub", "ABCDEFGHIJ.lamp-1", "mqtt://127.0.0.1:1883", "c2VjcmV0")
    assert creds.device_options() == {
        "product_id": "ABCDEFGHIJ",
        "device_name": "lamp-1",
        "explorer": False,
        "secret": "c2VjcmV0",
        "host": "127.0.0.1",
        "port": 1883,
        "tls": False,
    }
    device = creds.device([Lamp()])
    assert device.device_id == "ABCDEFGHIJ.lamp-1" and device.vendor == "tencent-hub"


def test_a_certificate_for_a_secret_vendor_is_not_supported_by_its_factory() -> None:
    creds = Provisioned("tencent-explorer", "ABCDEFGHIJ.l", "mqtts://x:8883", cert_file="c", key_file="k")
    with pytest.raises(NotSupported, match="signs in with a secret"):
        creds.device_options()


def test_the_file_holds_exactly_the_documented_keys(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    huawei_credentials().save(path)
    assert set(json.loads(path.read_text())) == {
        "version",
        "vendor",
        "device_id",
        "broker",
        "secret",
        "cert_file",
        "key_file",
        "ca_file",
        "extra",
    }


def test_provisioning_one_vendor_loads_only_that_vendors_modules() -> None:
    code = (
        "import json, sys; from thingmodel.provisioning import huawei; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('thingmodel.'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    assert [m for m in loaded if m.startswith("thingmodel.vendors.")] == ["thingmodel.vendors.huawei"]
    assert [m for m in loaded if m.startswith(("thingmodel.provisioning.aws", "thingmodel.cloud"))] == []
