"""A smoke detector with simulated sensors: the service class from the README, runnable.

    python examples/smoke_detector.py                       # against a local cloud it starts itself
    python examples/smoke_detector.py --broker mqtt://host:1883 --device-id dev1
    THINGMODEL_SECRET=... python examples/smoke_detector.py --huawei-host iot-mqtts... --device-id ...

``thingmodel demo`` runs this same class.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time

from thingmodel import Property, Service, command

log = logging.getLogger("smoke_detector")


class SmokeDetector(Service):
    """The smokeDetector service of the model in models/huawei/."""

    service_id = "smokeDetector"
    alarm = Property(
        int, writeable=True, minimum=0, maximum=1, default=0, description="1 = the buzzer sounds"
    )
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100)
    temperature = Property(float, unit="°C")
    humidity = Property(int, default=0)

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self.buzzer_rings = 0

    def get_temperature(self) -> float:
        return round(21 + self._random.uniform(-0.5, 0.5), 1)

    def get_smoke_concentration(self) -> float:
        return round(self._random.uniform(0, 5) + 80 * self.alarm, 1)

    def get_humidity(self) -> int:
        return self._random.randint(35, 45)

    def set_alarm(self, value: int) -> None:
        log.info("set_alarm(%d): buzzer %s", value, "on" if value else "off")

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        """Ring the buzzer for ``duration`` seconds (simulated)."""
        self.buzzer_rings += 1
        log.info("ring_alarm(duration=%d)", duration)
        return {"rang": duration}


def main() -> None:
    from thingmodel.cloud import LocalCloud
    from thingmodel.device import Device

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--broker", help="MQTT broker URL; default: start a local cloud")
    parser.add_argument("--device-id", default=os.environ.get("THINGMODEL_DEVICE_ID", "smoke-1"))
    parser.add_argument("--huawei-host", help="Huawei IoTDA access address (secret from THINGMODEL_SECRET)")
    parser.add_argument("--seconds", type=float, default=30, help="how long to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    detector = SmokeDetector()
    cloud = None
    if args.huawei_host:
        device = Device.for_huawei(
            device_id=args.device_id,
            secret=os.environ["THINGMODEL_SECRET"],
            host=args.huawei_host,
            services=[detector],
        )
    else:
        if args.broker is None:
            cloud = LocalCloud(port=0).start()
        device = Device([detector], device_id=args.device_id, broker=args.broker or cloud.url)  # type: ignore[union-attr]
    with device:
        detector.enable_auto_report(5)
        time.sleep(args.seconds)
    if cloud is not None:
        cloud.stop()


if __name__ == "__main__":
    main()
