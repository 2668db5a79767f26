"""The device registry file: round trips, mode 0600, atomic writes, one-line errors, hidden secrets."""

from __future__ import annotations

import base64
import json
import logging
import stat
from pathlib import Path

import pytest

from thingmodel import InvalidValue, ModelError
from thingmodel.cloud.registry import Credential, Registry

FINGERPRINT = "ab" * 32


def test_devices_and_secrets_survive_a_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    registry = Registry.new(path, "huawei")
    given = registry.add("smoke-1", "s3cret-given")
    made = registry.add("smoke-2")
    registry.save()

    again = Registry.load(path)

    assert again.vendor == "huawei" and again.devices() == ["smoke-1", "smoke-2"]
    assert again.get("smoke-1") == Credential(secret=given) and given == "s3cret-given"
    assert again.get("smoke-2") == Credential(secret=made)
    assert again.get("smoke-3") is None


def test_the_file_is_the_documented_version_1_format(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    registry = Registry.new(path, "aws")
    registry.add("thermostat-1", cert_sha256=FINGERPRINT.upper())
    registry.save()
    assert json.loads(path.read_text()) == {
        "version": 1,
        "vendor": "aws",
        "cloud_secret": registry.cloud_secret,
        "devices": {"thermostat-1": {"cert_sha256": FINGERPRINT}},
    }
    assert len(registry.cloud_secret) >= 32 and registry.cloud_secret not in repr(registry)


def test_a_file_without_a_cloud_secret_gets_one_on_its_next_save_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": 1, "vendor": "huawei", "devices": {}}))
    path.chmod(0o600)
    registry = Registry.load(path)
    registry.add("smoke-1")
    registry.save()
    assert Registry.load(path).cloud_secret == registry.cloud_secret


def test_a_short_cloud_secret_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": 1, "vendor": "huawei", "cloud_secret": "abc", "devices": {}}))
    with pytest.raises(ModelError, match="cloud_secret"):
        Registry.load(path)


def test_the_file_is_written_with_mode_0600_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("{}")
    path.chmod(0o644)
    registry = Registry.new(path, "huawei")
    registry.add("smoke-1")
    registry.save()
    registry.remove("smoke-1")
    registry.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]


def test_a_failed_write_keeps_the_old_file_leaves_no_temporary_file_and_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "registry.json"
    registry = Registry.new(path, "huawei")
    registry.add("smoke-1")
    registry.save()
    before = path.read_text()
    registry.add("smoke-2")

    def disk_full(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)
    with pytest.raises(ModelError, match=r"registry.json: cannot write it \(No space left on device\)"):
        registry.save()
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(ModelError) as caught:
        Registry.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: no such file") and "\n" not in message


CERT = "a" * 64


def aws_file(acts_for: object, **others: list[str]) -> str:
    """An AWS registry whose gw-1 acts for ``acts_for``, and each of ``others`` for its list."""
    devices = {"gw-1": {"cert_sha256": CERT, "acts_for": acts_for}}
    devices.update({name: {"cert_sha256": CERT, "acts_for": things} for name, things in others.items()})
    return json.dumps({"version": 1, "vendor": "aws", "devices": devices})


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ('{"version": 1,\n "vendor": ', "line 2, column 12: not JSON"),
        ("[]", "expected a JSON object"),
        ('{"version": 2, "vendor": "huawei", "devices": {}}', "version: version 2 is not supported"),
        ('{"version": 1, "vendor": "acme", "devices": {}}', "vendor: unknown vendor 'acme'"),
        ('{"version": 1, "vendor": "huawei", "devices": []}', "devices: expected an object"),
        ('{"version": 1, "vendor": "huawei", "devices": {"a/b": {"secret": "x"}}}', 'devices["a/b"]: '),
        ('{"version": 1, "vendor": "huawei", "devices": {"d": {"secret": ""}}}', 'devices["d"].secret: '),
        ('{"version": 1, "vendor": "huawei", "devices": {"d": {"cert_sha256": "x"}}}', 'devices["d"]: '),
        ('{"version": 1, "vendor": "tencent-hub", "devices": {"ABCDEFGHIJ.d": {"secret": "%%"}}}', "base64"),
        (
            '{"version": 1, "vendor": "huawei", "devices": {"d": {"secret": "x"}, "d": {"secret": "y"}}}',
            "twice",
        ),
        ('{"version": 1, "vendor": "huawei", "devices": {}, "extra": 1}', "extra: unknown key"),
        (
            '{"version": 1, "vendor": "huawei", "devices": {"d": {"secret": "x", "acts_for": []}}}',
            'devices["d"]: ',
        ),
        (aws_file("meter-1"), 'devices["gw-1"].acts_for: expected a list of thing names'),
        (aws_file(["gw-1"]), "acts for itself already"),
        (aws_file(["a/b"]), 'devices["gw-1"].acts_for: '),
        (aws_file(["meter-1"], gw2=["meter-1"]), "'meter-1' is acted for by 'gw-1' already"),
    ],
)
def test_a_broken_file_is_one_line_naming_the_file_and_the_place(
    tmp_path: Path, text: str, place: str
) -> None:
    path = tmp_path / "registry.json"
    path.write_text(text)
    with pytest.raises(ModelError) as caught:
        Registry.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}") and place in message and "\n" not in message


def test_the_things_an_aws_thing_acts_for_survive_the_file_and_name_it_as_their_actor(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "aws.json", "aws")
    registry.add("gw-1", cert_sha256=CERT, acts_for=["meter-1", "meter-2"])
    registry.save()
    loaded = Registry.load(tmp_path / "aws.json")
    assert loaded.get("gw-1") == registry.get("gw-1")
    assert loaded.actor_for("meter-2") == "gw-1" and loaded.actor_for("gw-1") is None
    assert "meter-1" not in loaded  # acted for, not registered to connect
    with pytest.raises(InvalidValue, match="'meter-1' is acted for by 'gw-1' already"):
        loaded.add("gw-2", cert_sha256=CERT, acts_for=["meter-1"])
    assert "gw-2" not in loaded
    loaded.remove("gw-1")
    assert loaded.actor_for("meter-1") is None


def test_acts_for_is_refused_for_vendors_whose_gateways_add_their_children(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "hw.json", "huawei")
    with pytest.raises(InvalidValue, match="acts_for is for aws things: huawei gateways add their children"):
        registry.add("gw-1", "secret", acts_for=["meter-1"])
    assert "gw-1" not in registry


def test_secrets_appear_in_no_repr(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "r.json", "huawei")
    secret = registry.add("smoke-1")
    assert secret not in repr(registry)
    assert secret not in repr(registry.get("smoke-1"))
    assert "1 devices" in repr(registry)


def test_new_secrets_follow_the_vendors_format(tmp_path: Path) -> None:
    huawei = Registry.new(tmp_path / "h.json", "huawei").add("smoke-1")
    tencent = Registry.new(tmp_path / "t.json", "tencent-explorer").add("ZPHBLEB4J5.light-1")
    assert len(huawei) == 16 and huawei.isalnum()
    assert len(base64.b64decode(tencent, validate=True)) == 16


def test_ids_and_credentials_are_checked_by_the_vendors_rules(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match=r"ProductId\.DeviceName"):
        Registry.new(tmp_path / "t.json", "tencent-hub").add("no-product")
    with pytest.raises(InvalidValue, match="thing name"):
        Registry.new(tmp_path / "a.json", "aws").add("a b", cert_sha256=FINGERPRINT)
    with pytest.raises(InvalidValue, match="certificate"):
        Registry.new(tmp_path / "a.json", "aws").add("thermostat-1", "a-secret")
    with pytest.raises(InvalidValue, match="base64"):
        Registry.new(tmp_path / "t.json", "tencent-hub").add("ZPHBLEB4J5.light-1", "not base64!")


def test_adding_a_registered_device_again_is_refused_unless_replacing(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "r.json", "huawei")
    registry.add("smoke-1", "first")
    with pytest.raises(InvalidValue, match="already in"):
        registry.add("smoke-1", "second")
    registry.add("smoke-1", "second", replace=True)
    assert registry.get("smoke-1") == Credential(secret="second")


def test_remove_says_whether_the_device_was_registered(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "r.json", "huawei")
    registry.add("smoke-1")
    assert registry.remove("smoke-1") is True
    assert registry.remove("smoke-1") is False
    assert registry.devices() == []


def test_a_file_others_can_read_is_loaded_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"version": 1, "vendor": "huawei", "devices": {"d": {"secret": "s3cret"}}}')
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="thingmodel.cloud.registry"):
        Registry.load(path)
    assert "chmod 600" in caplog.text and "s3cret" not in caplog.text
