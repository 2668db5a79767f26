"""A thermostat on AWS IoT: two services, so two *named* shadows ("heating" and "fan").

    python examples/aws_thermostat.py                 # against a local AWS-mode cloud it starts
    python examples/aws_thermostat.py --endpoint abc123-ats.iot.eu-west-1.amazonaws.com \\
        --thing thermostat-1 --cert thermostat.cert.pem --key thermostat.private.key [--ca AmazonRootCA1.pem]

The flags may also come from AWS_IOT_ENDPOINT, AWS_IOT_THING, AWS_IOT_CERT, AWS_IOT_KEY and
AWS_IOT_CA. With the local cloud, the program also plays the application: it sets a desired
target temperature and sends a command, and prints the named shadows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import time
from typing import Any

from thingmodel import Property, Service, command

log = logging.getLogger("aws_thermostat")


class Heating(Service):
    """Target and measured temperature; the target is written from the cloud."""

    service_id = "heating"
    target = Property(float, writeable=True, minimum=5, maximum=30, default=20.0, unit="°C")
    temperature = Property(float, unit="°C")
    mode = Property(str, writeable=True, enum=["off", "heat", "eco"], default="heat")

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self.boosts: list[int] = []

    def get_temperature(self) -> float:
        drift = 0.5 if self.mode != "off" and self.target > 19 else -0.5
        return round(19 + drift + self._random.uniform(-0.2, 0.2), 1)

    def set_target(self, value: float) -> None:
        log.info("heating: target %.1f °C", value)

    @command("boost")
    def boost(self, minutes: int = 15) -> dict[str, Any]:
        """Heat at full power for a while."""
        self.boosts.append(minutes)
        return {"until": time.strftime("%H:%M", time.localtime(time.time() + 60 * minutes))}


class Fan(Service):
    service_id = "fan"
    speed = Property(int, writeable=True, minimum=0, maximum=3, default=1)

    def set_speed(self, value: int) -> None:
        log.info("fan: speed %d", value)


def main() -> None:
    from thingmodel.cloud import LocalCloud
    from thingmodel.device import Device

    env = os.environ.get
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", default=env("AWS_IOT_ENDPOINT"), help="AWS IoT data endpoint")
    parser.add_argument("--thing", default=env("AWS_IOT_THING", "thermostat-1"))
    parser.add_argument("--cert", default=env("AWS_IOT_CERT"), help="the thing's certificate (PEM)")
    parser.add_argument("--key", default=env("AWS_IOT_KEY"), help="the thing's private key (PEM)")
    parser.add_argument("--ca", default=env("AWS_IOT_CA"), help="CA bundle; default: the system's")
    parser.add_argument("--seconds", type=float, default=10, help="how long to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    heating, fan = Heating(), Fan()
    cloud = None
    if args.endpoint:
        if not (args.cert and args.key):
            parser.error("--endpoint needs --cert and --key (or AWS_IOT_CERT / AWS_IOT_KEY)")
        device = Device.for_aws(
            thing_name=args.thing,
            endpoint=args.endpoint,
            cert_file=args.cert,
            key_file=args.key,
            ca_file=args.ca,
            services=[heating, fan],
        )
    else:
        cloud = LocalCloud(vendor="aws", port=0).start()
        device = Device([heating, fan], device_id=args.thing, vendor="aws", broker=cloud.url)
    with device:
        heating.enable_auto_report(2)
        fan.report()
        if cloud is not None:
            time.sleep(0.5)
            outcome = cloud.set_desired(args.thing, "heating", {"target": 22.5})
            log.info("app: desired heating.target = 22.5 -> %s", "applied" if outcome.ok else outcome.errors)
            answer = cloud.send_command(args.thing, "heating", "boost", {"minutes": 10})
            log.info("app: boost -> code %d %s", answer.code, dict(answer.params))
            log.info("app: shadows %s", json.dumps(cloud.get_shadow(args.thing), sort_keys=True))
        time.sleep(args.seconds)
    if cloud is not None:
        cloud.stop()


if __name__ == "__main__":
    main()
