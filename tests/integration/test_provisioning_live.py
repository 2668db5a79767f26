"""Provisioning against the local cloud on each vendor, then a normal session with what the device
was given; and a refusal on each, which says why."""

from __future__ import annotations

import base64
import json
import logging
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from thingmodel.brokers import ServerTls, free_port
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.certificates import (
    LocalPki,
    certificate_fingerprint,
    local_pki,
    make_device_certificate,
)
from thingmodel.cloud.provisioning import ProvisioningService
from thingmodel.cloud.registry import Registry
from thingmodel.provisioning import (
    Provisioned,
    ProvisioningError,
    ProvisioningTemplate,
    Refused,
    aws,
    huawei,
    tencent,
)
from thingmodel.transport import TlsOptions
from thingmodel.vendors import shadow_key

from .helpers import Detector, eventually, fast_backoff

pytestmark = pytest.mark.broker

GROUP_SECRET = base64.b64encode(b"the registration group's secret").decode()
PRODUCT, PRODUCT_SECRET = "ABCDEFGHIJ", "product-secret-0123456789"


def mode(path: str | Path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def reports_into_the_shadow(cloud: LocalCloud, creds: Provisioned) -> None:
    """Connect with the credentials, report, and see the report in the cloud's shadow."""
    detector = Detector()
    device = creds.device([detector], backoff=fast_backoff())
    with device:
        detector.counter = 7
        detector.report()
        key = shadow_key(device.codec, "smokeDetector")

        def counter() -> object:
            return cloud.get_shadow(creds.device_id).get(key, {}).get("reported", {}).get("counter")

        eventually(lambda: counter() == 7, what="the report in the shadow")


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "not authorized" in r.getMessage()]


# -- Huawei ---------------------------------------------------------------------------------------
@pytest.fixture
def huawei_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    registry = Registry.new(tmp_path / "registry.json", "huawei")
    registry.save()
    service = ProvisioningService(groups={"g1": GROUP_SECRET}, bootstrap_devices={"dev-7": "bootstrap-7"})
    with LocalCloud(vendor="huawei", port=free_port(), registry=registry, provisioning=service) as cloud:
        yield cloud


def bootstrap(cloud: LocalCloud, store: Path, group_secret: str = GROUP_SECRET) -> Provisioned:
    return huawei.provision(
        "dev-1",
        host=cloud.host,
        port=cloud.port,
        tls=False,
        scope_id="g1",
        group_secret=group_secret,
        static_policy={"baseStrategyKeyword": "1111"},
        store=store,
        timeout=10,
    )


def test_a_huawei_group_member_bootstraps_then_syncs_with_its_new_secret(
    huawei_cloud: LocalCloud, tmp_path: Path
) -> None:
    store = tmp_path / "device" / "credentials.json"
    creds = bootstrap(huawei_cloud, store)
    assert creds.broker == huawei_cloud.url and mode(store) == 0o600
    registered = huawei_cloud.registry.get("dev-1") if huawei_cloud.registry else None
    assert registered is not None and registered.secret == creds.secret
    reports_into_the_shadow(huawei_cloud, creds)
    assert bootstrap(huawei_cloud, store) == creds  # the second boot asks nothing
    assert huawei_cloud.registry is not None and huawei_cloud.registry.get("dev-1") == registered


def test_a_huawei_device_bootstraps_with_its_bootstrap_secret_then_syncs(huawei_cloud: LocalCloud) -> None:
    creds = huawei.provision(
        "dev-7", host=huawei_cloud.host, port=huawei_cloud.port, tls=False, secret="bootstrap-7"
    )
    assert creds.secret != "bootstrap-7" and creds.extra == {"bootstrap": "standard"}
    reports_into_the_shadow(huawei_cloud, creds)


def test_a_huawei_member_with_a_wrong_group_secret_is_refused_and_the_cloud_says_why(
    huawei_cloud: LocalCloud, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wrong = base64.b64encode(b"not the group's secret").decode()
    with pytest.raises(ProvisioningError, match="refused the connection"):
        bootstrap(huawei_cloud, tmp_path / "credentials.json", wrong)
    lines = refusals(caplog)
    assert any(
        "wrong password (not signed with the secret of registration group 'g1')" in line for line in lines
    )
    assert all(wrong not in line and GROUP_SECRET not in line for line in lines)
    assert not (tmp_path / "credentials.json").exists() and "dev-1" not in (huawei_cloud.registry or [])


# -- AWS ------------------------------------------------------------------------------------------
@attrs.frozen
class Fleet:
    cloud: LocalCloud
    service: ProvisioningService
    pki: LocalPki
    claim: tuple[Path, Path]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    pki = local_pki(tmp_path / "pki")
    claim = make_device_certificate(tmp_path / "pki", pki.ca, "claim")
    service = ProvisioningService(
        claim_certificates=[certificate_fingerprint(claim[0])],
        templates=[ProvisioningTemplate("FleetTemplate", "ThingPrefix_{SerialNumber}", {"LocationUrl": "u"})],
        ca=pki.ca,
    )
    ca = str(pki.ca[0])
    cloud = LocalCloud(
        vendor="aws",
        port=free_port(),
        registry=Registry.new(tmp_path / "aws.json", "aws"),
        listener_tls=ServerTls(*pki.server, cafile=ca),
        tls=TlsOptions(ca, str(pki.cloud_client[0]), str(pki.cloud_client[1])),
        provisioning=service,
    )
    with cloud:
        yield Fleet(cloud, service, pki, claim)


def by_claim(
    fleet: Fleet, folder: Path, *, template: str = "FleetTemplate", csr: bool = False
) -> Provisioned:
    eventually(lambda: fleet.service.claim_holder is None, what="the previous claim connection to end")
    return aws.provision(
        "127.0.0.1",
        port=fleet.cloud.port,
        claim_cert=str(fleet.claim[0]),
        claim_key=str(fleet.claim[1]),
        template=template,
        parameters={"SerialNumber": "1", "DeviceLocation": "Seattle"},
        ca_file=str(fleet.pki.ca[0]),
        csr=csr,
        store=folder / "credentials.json",
        timeout=10,
    )


@pytest.mark.parametrize("csr", [False, True], ids=["create-keys", "from-csr"])
def test_an_aws_thing_provisioned_by_claim_syncs_with_its_new_certificate(
    fleet: Fleet, tmp_path: Path, csr: bool
) -> None:
    creds = by_claim(fleet, tmp_path / "thing", csr=csr)
    assert creds.device_id == "ThingPrefix_1" and creds.extra["deviceConfiguration"] == {"LocationUrl": "u"}
    assert (
        creds.key_file
        and mode(creds.key_file) == 0o600
        and mode(tmp_path / "thing" / "credentials.json") == 0o600
    )
    assert json.loads((tmp_path / "thing" / "credentials.json").read_text())["cert_file"] == creds.cert_file
    registered = fleet.cloud.registry.get("ThingPrefix_1") if fleet.cloud.registry else None
    assert registered is not None and registered.cert_sha256 == certificate_fingerprint(creds.cert_file or "")
    reports_into_the_shadow(fleet.cloud, creds)


def test_an_aws_registration_with_an_unknown_template_is_rejected_saying_so(
    fleet: Fleet, tmp_path: Path
) -> None:
    with pytest.raises(Refused) as caught:
        by_claim(fleet, tmp_path, template="NoSuchTemplate")
    assert caught.value.code == "ResourceNotFoundException" and caught.value.status == 404
    assert "NoSuchTemplate does not exist" in str(caught.value)
    assert fleet.cloud.registry is not None and len(fleet.cloud.registry) == 0


def test_an_aws_certificate_that_is_no_claim_is_refused_and_the_cloud_says_why(
    fleet: Fleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stranger = make_device_certificate(tmp_path / "pki", fleet.pki.ca, "stranger")
    fleet = attrs.evolve(fleet, claim=stranger)
    with pytest.raises(ProvisioningError, match="refused the connection"):
        by_claim(fleet, tmp_path)
    assert any("is not registered" in line for line in refusals(caplog))


# -- Tencent --------------------------------------------------------------------------------------
@pytest.fixture
def tencent_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    registry = Registry.new(tmp_path / "tencent.json", "tencent-explorer")
    service = ProvisioningService(products={PRODUCT: PRODUCT_SECRET})
    cloud = LocalCloud(
        vendor="tencent-explorer", port=free_port(), registry=registry, http_port=0, provisioning=service
    )
    with cloud:
        yield cloud


def register(cloud: LocalCloud, store: Path, secret: str = PRODUCT_SECRET) -> Provisioned:
    return tencent.provision(
        PRODUCT,
        "lamp-1",
        secret,
        url=f"{cloud.http_url}/device/register",
        mqtt_host=cloud.host,
        port=cloud.port,
        tls=False,
        store=store,
        timeout=10,
    )


def test_a_tencent_device_registered_dynamically_syncs_with_its_new_secret(
    tencent_cloud: LocalCloud, tmp_path: Path
) -> None:
    store = tmp_path / "credentials.json"
    creds = register(tencent_cloud, store)
    assert (
        creds.vendor == "tencent-explorer" and creds.device_id == f"{PRODUCT}.lamp-1" and mode(store) == 0o600
    )
    registered = tencent_cloud.registry.get(creds.device_id) if tencent_cloud.registry else None
    assert registered is not None and registered.secret == creds.secret
    reports_into_the_shadow(tencent_cloud, creds)
    store.unlink()  # a device that lost its secret after connecting is not given another
    with pytest.raises(Refused, match="has connected already"):
        register(tencent_cloud, store)


def test_a_tencent_registration_signed_with_a_wrong_product_secret_is_refused_saying_why(
    tencent_cloud: LocalCloud, tmp_path: Path
) -> None:
    with pytest.raises(Refused) as caught:
        register(tencent_cloud, tmp_path / "credentials.json", "not-the-product-secret")
    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert "not-the-product-secret" not in str(caught.value)
    assert tencent_cloud.registry is not None and len(tencent_cloud.registry) == 0


# -- the CLI --------------------------------------------------------------------------------------
CLI = [sys.executable, "-m", "thingmodel.cli"]


def test_a_broken_provisioning_file_stops_the_cloud_with_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "provisioning.json"
    path.write_text(json.dumps({"tencent": {"products": {PRODUCT: "short"}}}))
    args = ["cloud", "--vendor", "tencent-explorer", "--port", "1", "--provisioning", str(path)]
    refused = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert str(path) in refused.stderr and "at least 16" in refused.stderr and "short" not in refused.stderr


def test_thingmodel_cloud_with_a_provisioning_file_registers_a_tencent_device(tmp_path: Path) -> None:
    path = tmp_path / "provisioning.json"
    path.write_text(json.dumps({"tencent": {"products": {PRODUCT: PRODUCT_SECRET}}}))
    args = [
        "cloud",
        "--vendor",
        "tencent-explorer",
        "--port",
        "0",
        "--http-port",
        "0",
        "--provisioning",
        str(path),
    ]
    cloud = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert cloud.stdout is not None
        lines = [cloud.stdout.readline() for _ in range(5)]
        said = lines[-1].split()
        assert said[:4] == ["provisioning:", "Tencent", "dynamic", "registration"], lines
        url = said[5]
        creds = tencent.provision(
            PRODUCT, "lamp-9", PRODUCT_SECRET, url=url, port=1883, tls=False, timeout=10
        )
    finally:
        cloud.terminate()
        cloud.wait(timeout=30)
    assert url.endswith("/device/register") and creds.secret and creds.device_id == f"{PRODUCT}.lamp-9"
