"""A light on Tencent IoT Explorer, its service class built from the real data template.

    python examples/tencent_light.py                  # against a local tencent-explorer cloud
    python examples/tencent_light.py --device-name light-1 --secret <base64 device secret> \\
        [--product-id ZPHBLEB4J5] [--ca tencent-ca.crt]

Flags may also come from TENCENT_PRODUCT_ID, TENCENT_DEVICE_NAME and TENCENT_DEVICE_SECRET.
The template is models/tencent/light_python_sdk.json (from Tencent's Python SDK samples):
power_switch (bool), color (enum), brightness (0-100 %), name (string), and the action light_on.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

from thingmodel import ProductModel

log = logging.getLogger("tencent_light")
MODEL = ProductModel.load(
    Path(__file__).resolve().parent.parent / "models" / "tencent" / "light_python_sdk.json"
)
PRODUCT_ID = next(iter(MODEL.services))  # a data template is one service, named by its ProductId
LightTemplate = MODEL.service_class()


class Light(LightTemplate):  # type: ignore[misc, valid-type]
    """The template's properties and action, with a (simulated) lamp behind them."""

    def __init__(self) -> None:
        self.switched: list[bool] = []

    def set_power_switch(self, value: bool) -> None:
        self.switched.append(value)
        log.info("lamp %s", "on" if value else "off")

    def set_brightness(self, value: int) -> None:
        log.info("brightness %d %%", value)

    def light_on(self, is_on: bool) -> dict[str, Any]:
        """The template's action: switch the lamp, answer err_code."""
        self.update(power_switch=is_on)
        self.report("power_switch")
        return {"err_code": 0}


def main() -> None:
    from thingmodel.cloud import LocalCloud
    from thingmodel.device import Device

    env = os.environ.get
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--product-id", default=env("TENCENT_PRODUCT_ID", PRODUCT_ID))
    parser.add_argument("--device-name", default=env("TENCENT_DEVICE_NAME", "light-1"))
    parser.add_argument("--secret", default=env("TENCENT_DEVICE_SECRET"), help="device secret (base64)")
    parser.add_argument("--ca", help="CA certificate of Tencent's MQTT endpoint; default: the system's")
    parser.add_argument("--seconds", type=float, default=10, help="how long to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    light = Light()
    device_id = f"{args.product_id}.{args.device_name}"
    cloud = None
    if args.secret:
        device = Device.for_tencent(
            product_id=args.product_id,
            device_name=args.device_name,
            secret=args.secret,
            ca_file=args.ca,
            services=[light],
        )
    else:
        cloud = LocalCloud(vendor="tencent-explorer", port=0).start()
        device = Device([light], device_id=device_id, vendor="tencent-explorer", broker=cloud.url)
    with device:
        light.update(power_switch=False, color=0, brightness=50, name=args.device_name)
        light.enable_auto_report(5)
        if cloud is not None:
            outcome = cloud.set_desired(device_id, args.product_id, {"power_switch": 1, "brightness": 80})
            log.info(
                "app: control power_switch=1 brightness=80 -> %s", "applied" if outcome.ok else outcome.errors
            )
            answer = cloud.send_command(device_id, None, "light_on", {"is_on": 0})
            log.info("app: action light_on(is_on=0) -> code %d %s", answer.code, dict(answer.params))
            log.info("app: shadow %s", cloud.get_shadow(device_id))
        time.sleep(args.seconds)
    if cloud is not None:
        cloud.stop()


if __name__ == "__main__":
    main()
