"""A device that the cloud upgrades over the air: it declares how to read its version and how to
install a package; thingmodel answers version queries, downloads (resuming after a drop), checks
the hash, installs and reports progress and the outcome.

    python examples/ota_device.py                        # a local cloud upgrades it to 1.1
    python examples/ota_device.py --vendor aws           # the same as an AWS IoT job
    python examples/ota_device.py --vendor tencent-explorer

The program plays the application too: it adds a package to the local cloud, starts the upgrade
and prints the outcome the cloud records (as ``thingmodel ota DEVICE FILE --version V`` does),
then offers a broken image, which the device refuses and reports while keeping 1.1.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from thingmodel import Ota, Package, Property, Service

log = logging.getLogger("ota_device")


class Firmware(Ota):
    """The firmware lives in a directory: ``version.json`` says which version runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        if not (root / "version.json").exists():
            (root / "version.json").write_text(json.dumps({"version": "1.0"}))

    def version(self) -> str:
        return str(json.loads((self.root / "version.json").read_text())["version"])

    def install(self, package: Package) -> None:
        image = package.path.read_bytes()
        if not image.startswith(b"FW"):
            raise ValueError("not a firmware image (no FW header)")  # reported; 1.0 stays
        (self.root / "firmware.bin").write_bytes(image)
        (self.root / "version.json").write_text(json.dumps({"version": package.version}))
        log.info("device: installed %s (%d bytes)", package.version, package.size)


class Status(Service):
    service_id = "status"
    uptime = Property(int, default=0)


def device_id_for(vendor: str) -> str:
    return "OTAPRODUCT.ota-1" if vendor.startswith("tencent") else "ota-1"


def main(argv: list[str] | None = None) -> int:
    from thingmodel.cloud import LocalCloud
    from thingmodel.device import Device

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--vendor", choices=["huawei", "aws", "tencent-explorer", "tencent-hub"], default="huawei"
    )
    parser.add_argument("--firmware-dir", type=Path, help="where the firmware lives (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    root = args.firmware_dir or Path(tempfile.mkdtemp(prefix="ota-device-"))
    firmware = Firmware(root)
    device_id = device_id_for(args.vendor)
    with LocalCloud(vendor=args.vendor, port=0, http_port=0) as cloud:
        device = Device([Status()], device_id=device_id, vendor=args.vendor, broker=cloud.url, ota=firmware)
        with device:
            log.info("device: runs %s", firmware.version())
            good = cloud.packages.add(
                b"FW" + b"\x00new firmware\x00" * 4096, version="1.1", name="fw-1.1.bin"
            )
            done = cloud.wait_upgrade(cloud.upgrade(device_id, good).task_id, timeout=30)
            log.info("cloud: upgrade to 1.1: %s", done.describe())
            # An image without the header: install() raises, the cloud hears why, 1.1 stays.
            bad = cloud.packages.add(b"not firmware", version="1.2", name="fw-1.2.bin")
            refused = cloud.wait_upgrade(cloud.upgrade(device_id, bad).task_id, timeout=30)
            log.info("cloud: upgrade to 1.2: %s", refused.describe())
            log.info("device: runs %s", firmware.version())
            return 0 if done.ok and refused.failure == "install" and firmware.version() == "1.1" else 1


if __name__ == "__main__":
    raise SystemExit(main())
