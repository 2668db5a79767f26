"""``thingmodel registry`` and ``thingmodel cloud --registry``, run as a user would, in subprocesses."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from thingmodel.cloud.certificates import certificate_fingerprint

CLI = [sys.executable, "-m", "thingmodel.cli"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_add_creates_the_file_and_prints_the_new_secret_once(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    added = run("registry", "add", "--file", str(path), "smoke-1")
    assert added.returncode == 0, added.stderr
    first, second = added.stdout.splitlines()
    assert first == f"added huawei device smoke-1 to {path}"
    secret = second.split()[1]
    assert json.loads(path.read_text())["devices"] == {"smoke-1": {"secret": secret}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_list_hides_secrets_unless_asked(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.json")
    assert run("registry", "add", "--file", path, "smoke-1", "--secret", "s3cret-1").returncode == 0
    listed = run("registry", "list", "--file", path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0] == f"{path}: 1 huawei device"
    assert "smoke-1" in listed.stdout and "s3cret-1" not in listed.stdout + listed.stderr
    shown = run("registry", "list", "--file", path, "--show-secrets")
    assert shown.stdout.splitlines()[1] == "smoke-1\tsecret=s3cret-1"


def test_a_given_secret_is_not_echoed(tmp_path: Path) -> None:
    added = run("registry", "add", "--file", str(tmp_path / "r.json"), "smoke-1", "--secret", "s3cret-1")
    assert added.returncode == 0 and "s3cret-1" not in added.stdout + added.stderr


def test_remove_unregisters_and_a_missing_device_is_exit_1_naming_it(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.json")
    run("registry", "add", "--file", path, "smoke-1")
    removed = run("registry", "remove", "--file", path, "smoke-1")
    assert removed.returncode == 0 and removed.stdout.splitlines()[0] == f"removed smoke-1 from {path}"
    again = run("registry", "remove", "--file", path, "smoke-1")
    assert again.returncode == 1
    assert again.stderr.strip() == f"thingmodel: device 'smoke-1' is not in {path}"


def test_adding_a_registered_device_again_is_exit_1(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.json")
    run("registry", "add", "--file", path, "smoke-1")
    again = run("registry", "add", "--file", path, "smoke-1")
    assert again.returncode == 1 and "already in" in again.stderr


def test_a_bad_device_id_or_a_vendor_clash_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.json")
    bad_id = run("registry", "add", "--file", path, "--vendor", "tencent-hub", "no-product")
    assert bad_id.returncode == 2 and len(bad_id.stderr.splitlines()) == 1
    assert "ProductId.DeviceName" in bad_id.stderr
    run("registry", "add", "--file", path, "smoke-1")
    clash = run("registry", "add", "--file", path, "--vendor", "aws", "thermostat-1")
    assert clash.returncode == 2 and clash.stderr.strip().endswith("registers huawei devices, not aws ones")


def test_listing_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    listed = run("registry", "list", "--file", str(path))
    assert listed.returncode == 2
    assert listed.stderr.splitlines() == [
        f"thingmodel: {path}: no such file (`thingmodel registry add` makes one)"
    ]


def test_cloud_with_a_missing_registry_exits_2_with_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    result = run("cloud", "--port", "1", "--registry", str(path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "no such file" in lines[0]


def test_cloud_with_a_broken_registry_exits_2_naming_the_file_and_the_place(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1, "vendor": "huawei", "devices": {"a/b": {"secret": "x"}}}')
    result = run("cloud", "--port", "1", "--registry", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f'thingmodel: {path}, devices["a/b"]: '
        "device_id 'a/b' contains a slash, which would break its MQTT topic"
    ]


def test_make_cert_issues_an_aws_things_certificate_from_the_local_ca_and_registers_it(
    tmp_path: Path,
) -> None:
    path, pki = str(tmp_path / "aws.json"), tmp_path / "pki"
    made = run("registry", "add", "--file", path, "--vendor", "aws", "thermostat-1", "--make-cert", str(pki))
    assert made.returncode == 0, made.stderr
    cert = pki / "thermostat-1.crt"
    assert f"certificate: {cert}" in made.stdout
    assert stat.S_IMODE((pki / "thermostat-1.key").stat().st_mode) == 0o600
    listed = run("registry", "list", "--file", path)
    assert f"cert_sha256={certificate_fingerprint(cert)}" in listed.stdout


def test_acts_for_registers_the_things_an_aws_gateway_serves_and_a_huawei_one_is_exit_2(
    tmp_path: Path,
) -> None:
    path, pki = str(tmp_path / "aws.json"), str(tmp_path / "pki")
    args = ["registry", "add", "--file", path, "--vendor", "aws", "hub-1", "--make-cert", pki]
    made = run(*args, "--acts-for", "meter-1", "--acts-for", "meter-2", "--acts-for", "meter-1")
    assert made.returncode == 0, made.stderr
    assert "acts for: meter-1, meter-2" in made.stdout
    assert json.loads(Path(path).read_text())["devices"]["hub-1"]["acts_for"] == ["meter-1", "meter-2"]
    assert "\tacts_for=meter-1,meter-2" in run("registry", "list", "--file", path).stdout
    huawei = run("registry", "add", "--file", str(tmp_path / "hw.json"), "gw-1", "--acts-for", "meter-1")
    assert huawei.returncode == 2
    assert huawei.stderr.strip().splitlines() == [
        "thingmodel: acts_for is for aws things: huawei gateways add their children themselves"
    ]
    assert not (tmp_path / "hw.json").exists()
    bad = run("registry", "add", "--file", path, "hub-2", "--make-cert", pki, "--acts-for", "a/b")
    assert bad.returncode == 2 and "'a/b' must be 1-128 characters" in bad.stderr
    assert not (Path(pki) / "hub-2.crt").exists()  # refused before any certificate is made


def test_an_aws_cloud_with_a_registry_but_no_tls_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = str(tmp_path / "aws.json")
    run("registry", "add", "--file", path, "--vendor", "aws", "thermostat-1", "--make-cert", str(tmp_path))
    refused = run("cloud", "--vendor", "aws", "--registry", path, "--port", "1")  # never bound
    assert refused.returncode == 2 and refused.stderr.strip().endswith("give --tls-dir DIR too")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_an_aws_cloud_with_tls_dir_serves_mqtts_and_says_who_may_connect(tmp_path: Path) -> None:
    from thingmodel.brokers import free_port

    path, pki = str(tmp_path / "aws.json"), str(tmp_path / "pki")
    run("registry", "add", "--file", path, "--vendor", "aws", "thermostat-1", "--make-cert", pki)
    port = free_port()
    args = [
        "cloud",
        "--vendor",
        "aws",
        "--registry",
        path,
        "--tls-dir",
        pki,
        "--port",
        str(port),
        "--http-port",
        "0",
    ]
    cloud = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert cloud.stdout is not None
        line = cloud.stdout.readline()
    finally:
        cloud.terminate()
        cloud.wait(timeout=30)
    assert f"serving on mqtts://127.0.0.1:{port}" in line and "1 registered device" in line, line
    assert (tmp_path / "pki" / "thingmodel-server.crt").exists()
