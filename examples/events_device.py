"""A door sensor that emits events (``door_opened``, an alert, and ``battery_low``) and ships its
own log to the cloud.

    python examples/events_device.py                            # against a local cloud it starts
    python examples/events_device.py --vendor tencent-explorer  # the same, as Tencent event_post
    THINGMODEL_SECRET=... python examples/events_device.py --huawei-host iot-mqtts... --device-id ...

An event is declared on the service like a property, with typed parameters; calling it checks
every value (a bad one raises ValidationError naming it, and nothing is sent) and sends it:
Huawei ``events/up``, Tencent ``event_post`` with the kind as its ``type``. With the local cloud,
the program also plays the application and shows the events and log lines the cloud received.

Its log goes to the cloud through ``device.log_handler()``, a ``logging.Handler`` (Huawei ``$log``;
Tencent takes logs over its own HTTP upload, so there the handler is refused with NotSupported).
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from thingmodel import Event, NotSupported, Property, Service, ValidationError
from thingmodel.types import Integer

log = logging.getLogger("events_device")
PRODUCT_ID = "DOORSENSOR"  # a Tencent device id is ProductId.DeviceName


class DoorSensor(Service):
    """A door contact with a battery; it tells the cloud when the door opens."""

    service_id = "doorSensor"
    is_open = Property(bool, name="open", default=False)
    battery = Property(int, minimum=0, maximum=100, unit="%", default=100)

    door_opened = Event({"angle": Integer(minimum=0, maximum=180)}, optional={"by": str}, kind="alert")
    battery_low = Event({"percent": Integer(minimum=0, maximum=100)})

    def open_door(self, angle: int, **who: str) -> None:
        """What the (simulated) contact does when the door opens: report it and raise the alert
        (``by=`` names who opened it, when the sensor knows)."""
        self.update(is_open=True)
        self.report("is_open")
        self.door_opened(angle=angle, **who)

    def drain(self, percent: int) -> None:
        """The battery drops to ``percent``; below 20 % the sensor says so."""
        self.update(battery=percent)
        if percent < 20:
            log.warning("battery at %d%%: replace it soon", percent)
            self.battery_low(percent=percent)


def main() -> None:
    from thingmodel.cloud import LocalCloud
    from thingmodel.device import Device

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vendor", choices=["huawei", "tencent-explorer"], default="huawei")
    parser.add_argument("--device-id", help="default: door-1 (Huawei), DOORSENSOR.door-1 (Tencent)")
    parser.add_argument("--huawei-host", help="Huawei IoTDA access address (secret from THINGMODEL_SECRET)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    device_id = args.device_id or (f"{PRODUCT_ID}.door-1" if args.vendor.startswith("tencent") else "door-1")
    sensor = DoorSensor()
    cloud = None
    if args.huawei_host:
        device = Device.for_huawei(
            device_id=device_id,
            secret=os.environ["THINGMODEL_SECRET"],
            host=args.huawei_host,
            services=[sensor],
        )
    else:
        cloud = LocalCloud(vendor=args.vendor, port=0).start()
        device = Device([sensor], device_id=device_id, vendor=args.vendor, broker=cloud.url)
    with device:
        try:
            log.addHandler(device.log_handler())  # this program's own log, shipped to the cloud
        except NotSupported as exc:
            log.info("device: %s", exc)
        sensor.open_door(90, by="alice")
        sensor.open_door(35)
        sensor.drain(15)
        try:
            sensor.door_opened(angle=400, colour="red")
        except ValidationError as exc:
            log.info("device: refused, nothing sent: %s", exc)
        if cloud is not None:
            deadline = time.monotonic() + 5
            while len(cloud.activity(device_id).events) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            for event in cloud.activity(device_id).events:
                log.info("cloud: received %s %s", event.event_type, dict(event.params))
            while (
                args.vendor == "huawei" and not cloud.activity(device_id).logs and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            for line in cloud.activity(device_id).logs:
                log.info("cloud: log line %s", line.params.get("content"))
    if cloud is not None:
        cloud.stop()


if __name__ == "__main__":
    main()
