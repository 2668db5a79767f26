"""FakeCloud runs OTA, device info, log shipping, files and custom topics in memory, on every
vendor that has them, with the real device core and both halves of the real codec."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from thingmodel import NotSupported, Ota, Package, Property, Service
from thingmodel.testing import FakeCloud

IMAGE = b"FW" + bytes(range(256)) * 40
VENDORS = [
    ("huawei", "dev-1"),
    ("aws", "dev-1"),
    ("tencent-explorer", "PROD1.dev-1"),
    ("tencent-hub", "PROD1.dev-1"),
]


class Meter(Service):
    service_id = "meter"
    reading = Property(int, default=0)


class Firmware(Ota):
    def __init__(self, directory: Path, *, broken: bool = False) -> None:
        self.running = "1.0"
        self.broken = broken
        self.images: list[bytes] = []
        self.download_dir = directory

    def version(self) -> str:
        return self.running

    def install(self, package: Package) -> None:
        if self.broken:
            raise RuntimeError("bootloader refused the image")
        self.images.append(package.path.read_bytes())
        self.running = package.version


@pytest.mark.parametrize(("vendor", "device_id"), VENDORS)
def test_an_upgrade_runs_end_to_end_and_the_cloud_records_the_new_version(
    vendor: str, device_id: str, tmp_path: Path
) -> None:
    firmware = Firmware(tmp_path)
    fake = FakeCloud(Meter(), vendor=vendor, device_id=device_id, ota=firmware)
    assert fake.versions == ("1.0", None)  # reported when the device connected
    upgrade = fake.offer_upgrade(IMAGE, "1.1")
    assert (upgrade.state, upgrade.failure) == ("succeeded", None)
    assert firmware.images == [IMAGE] and firmware.running == "1.1"
    assert fake.versions == ("1.1", None)
    assert [r.state for r in fake.upgrade_reports][-1] == "succeeded"


@pytest.mark.parametrize(("vendor", "device_id"), VENDORS)
def test_a_package_whose_hash_does_not_match_is_refused_and_reported(
    vendor: str, device_id: str, tmp_path: Path
) -> None:
    firmware = Firmware(tmp_path)
    fake = FakeCloud(Meter(), vendor=vendor, device_id=device_id, ota=firmware)
    upgrade = fake.offer_upgrade(IMAGE, "1.1", sha256="0" * 64, md5="0" * 32)
    assert (upgrade.state, upgrade.failure) == ("failed", "verify")
    assert firmware.images == [] and firmware.running == "1.0"
    assert any(e.kind == "ota" and "verify" in e.reason for e in fake.errors)


@pytest.mark.parametrize(("vendor", "device_id"), VENDORS)
def test_an_install_that_raises_is_reported_failed_and_the_old_version_kept(
    vendor: str, device_id: str, tmp_path: Path
) -> None:
    fake = FakeCloud(Meter(), vendor=vendor, device_id=device_id, ota=Firmware(tmp_path, broken=True))
    upgrade = fake.offer_upgrade(IMAGE, "1.1")
    assert (upgrade.state, upgrade.failure) == ("failed", "install")
    assert "bootloader refused" in upgrade.reason or vendor.startswith(
        "tencent"
    )  # Tencent carries codes only
    assert fake.versions == ("1.0", None)


def test_a_download_that_fails_is_reported_as_a_download_failure(tmp_path: Path) -> None:
    fake = FakeCloud(Meter(), ota=Firmware(tmp_path))
    upgrade = fake.offer_upgrade(IMAGE, "1.1", served=False)
    assert (upgrade.state, upgrade.failure) == ("failed", "download") and "404" in upgrade.reason


def test_a_device_without_ota_refuses_an_offer_as_unsupported() -> None:
    fake = FakeCloud(Meter())
    upgrade = fake.offer_upgrade(IMAGE, "1.1")
    assert (upgrade.state, upgrade.failure) == ("failed", "unsupported")


@pytest.mark.parametrize(
    ("vendor", "device_id"), [("huawei", "d"), ("tencent-explorer", "P.d"), ("aws", "d")]
)
def test_device_info_is_reported_on_connect_with_the_firmware_version(
    vendor: str, device_id: str, tmp_path: Path
) -> None:
    fake = FakeCloud(
        Meter(), vendor=vendor, device_id=device_id, ota=Firmware(tmp_path), info={"board": "rev-c"}
    )
    info = fake.device_info
    assert info is not None
    assert "1.0" in info.values() and "rev-c" in str(info)


@pytest.mark.parametrize(("vendor", "device_id"), [("huawei", "d"), ("aws", "d")])
def test_log_records_reach_the_cloud_through_the_handler(vendor: str, device_id: str) -> None:
    fake = FakeCloud(Meter(), vendor=vendor, device_id=device_id)
    logger = logging.getLogger(f"test.fake.{vendor}")
    logger.propagate = False
    logger.addHandler(fake.log_handler())
    logger.warning("valve %s stuck", "A")
    assert fake.logs == [f"WARNING test.fake.{vendor}: valve A stuck"]


def test_the_cloud_switches_log_shipping_off() -> None:
    fake = FakeCloud(Meter())
    logger = logging.getLogger("test.fake.switch")
    logger.propagate = False
    logger.addHandler(fake.log_handler())
    fake.configure_log(False)
    logger.warning("not shipped")
    fake.configure_log(True)
    logger.warning("shipped")
    assert fake.logs[-1].endswith("shipped") and not any("not shipped" in line for line in fake.logs)


def test_tencent_has_no_log_shipping_and_says_so() -> None:
    fake = FakeCloud(Meter(), vendor="tencent-explorer", device_id="P.d")
    with pytest.raises(NotSupported, match="tencent-explorer has no log shipping"):
        fake.log_handler()


def test_a_file_uploaded_by_the_device_is_stored_and_downloaded_back() -> None:
    fake = FakeCloud(Meter())
    fake.upload_file("report.csv", b"a,b\n1,2\n")
    assert fake.files == {"report.csv": b"a,b\n1,2\n"}
    fake.put_file("config.json", b"{}")
    assert fake.download_file("config.json") == b"{}"


@pytest.mark.parametrize(("vendor", "device_id"), [("aws", "d"), ("tencent-explorer", "P.d")])
def test_file_transfer_is_not_supported_where_the_vendor_has_no_file_service(
    vendor: str, device_id: str
) -> None:
    fake = FakeCloud(Meter(), vendor=vendor, device_id=device_id)
    with pytest.raises(NotSupported, match="has no file transfer"):
        fake.upload_file("x.bin", b"1")


@pytest.mark.parametrize(("vendor", "device_id"), VENDORS)
def test_custom_topics_carry_messages_both_ways(vendor: str, device_id: str) -> None:
    fake = FakeCloud(Meter(), vendor=vendor, device_id=device_id)
    got: list[tuple[str, bytes]] = []
    topic_filter = fake.subscribe("cfg/+", lambda topic, payload: got.append((topic, payload)))
    fake.send_to_topic("cfg/led", b"on")
    assert got == [(topic_filter.replace("+", "led"), b"on")]
    fake.publish("telemetry", b"42")
    assert fake.messages[-1] == (topic_filter.replace("cfg/+", "telemetry"), 42)
