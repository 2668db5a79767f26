"""``thingmodel simulate``: its options, and the run from parsed arguments to an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from ..declare.service import Service
from ..engine.core import check_services
from ..errors import InvalidValue
from ..fleet.report import summary_text, verdict
from ..fleet.shard import Shard, check_vendor_ids, device_ids, parse_devices, parse_shard
from ..vendors import VENDORS

DESCRIPTION = """\
Simulate a fleet of devices running your services: each device connects, sets its properties
from value generators every --report-every seconds and reports them. A progress line on stderr
(connected, reports/s, latency p50/p99, errors); a summary on stdout at the end, and Ctrl-C ends
the run early with the summary. Exit 0 when every device connected and every report arrived,
1 otherwise (saying why).

Without --cloud the simulator runs its own local cloud (on its embedded broker, or on --broker);
with --cloud URL it reports to a running `thingmodel cloud`, which all the shards of a fleet
share (--shard i/n runs the devices whose index modulo n is i). Ids are {prefix}{index}.

Value generators (--value NAME=GEN, repeatable): walk:LOW:HIGH, uniform:LOW:HIGH, choice:A,B,...,
const:V, flip[:P], now, keep. By default numbers walk within their declared range, booleans flip,
enums and strings pick among their choices, and properties with a getter are left to it."""


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of ``thingmodel simulate``."""
    p.add_argument(
        "targets",
        nargs="+",
        metavar="MODULE:CLASS",
        help="each device's services: a Service subclass, a list of them, or a function returning "
        "a device's services",
    )
    p.add_argument(
        "--devices", required=True, metavar="N", help="the fleet's size, all shards' devices (required)"
    )
    p.add_argument(
        "--vendor",
        choices=VENDORS,
        default=None,
        help="the protocol (default: the cloud's with --cloud, else huawei)",
    )
    p.add_argument(
        "--broker",
        metavar="URL",
        default=None,
        help="the MQTT broker devices connect to, mqtt://host:port (default: with --cloud that cloud's "
        "broker, else the simulator's own embedded one)",
    )
    p.add_argument(
        "--cloud",
        metavar="URL",
        default=None,
        help="a running `thingmodel cloud` (its HTTP URL) to report to (default: none, the simulator "
        "runs its own local cloud)",
    )
    p.add_argument(
        "--app-key",
        metavar="ID:SECRET",
        default=os.environ.get("THINGMODEL_APP_KEY"),
        help="with --cloud: the key it was started with (default: $THINGMODEL_APP_KEY, or none)",
    )
    p.add_argument(
        "--prefix", default="sim-", help="device ids are {prefix}{index}; Tencent: PRODUCTID.name-"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="how long the whole fleet reports, once connected",
    )
    p.add_argument(
        "--report-every", type=float, default=5.0, metavar="S", help="each device reports every S seconds"
    )
    p.add_argument(
        "--value",
        action="append",
        default=[],
        metavar="NAME=GEN",
        help="a property's generator, e.g. temperature=walk:20:30, mode=choice:auto,eco, count=const:3 "
        "(default: by the property's type)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="seed of the value generators (default: a random one, printed)"
    )
    p.add_argument("--shard", default="0/1", metavar="i/n", help="run shard i of n of the fleet")
    p.add_argument(
        "--connect-concurrency", type=int, default=64, metavar="K", help="connects in flight at once"
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds one device may take to connect",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (default: text)")


def service_factory(
    targets: Sequence[str], load: Callable[[str], Any]
) -> tuple[Callable[[], list[Service]], tuple[type[Service], ...]]:
    """``(make, classes)``: ``make()`` returns one device's new services. Each target is a
    Service subclass, a list or tuple of them, or a function returning a device's services
    (one or a list); InvalidValue naming the target otherwise."""
    makers: list[Callable[[], list[Service]]] = []
    for target in targets:
        makers.append(_maker(target, load(target)))

    def make() -> list[Service]:
        return [service for maker in makers for service in maker()]

    try:
        first = check_services(make())
    except InvalidValue:
        raise
    except Exception as exc:
        raise InvalidValue(
            f"cannot make a device's services from {' '.join(targets)}: {type(exc).__name__}: {exc}"
        ) from None
    return make, tuple(type(s) for s in first.values())


def _maker(target: str, found: Any) -> Callable[[], list[Service]]:
    if isinstance(found, type) and issubclass(found, Service):
        return _classes(target, [found])
    if (
        isinstance(found, (list, tuple))
        and found
        and all(isinstance(c, type) and issubclass(c, Service) for c in found)
    ):
        return _classes(target, list(found))
    if callable(found) and not isinstance(found, type):

        def call() -> list[Service]:
            made = found()
            services = list(made) if isinstance(made, (list, tuple)) else [made]
            if not services or not all(isinstance(s, Service) for s in services):
                raise InvalidValue(f"{target} returned {made!r}, not a Service or a list of them")
            return services

        return call
    raise InvalidValue(
        f"{target} is not a Service subclass, a list of them, or a function returning services"
    )


def _classes(target: str, classes: list[type[Service]]) -> Callable[[], list[Service]]:
    return lambda: [cls() for cls in classes]


def _positive(value: float, option: str) -> float:
    if not value > 0:
        raise InvalidValue(f"{option} {value:g}: must be above 0")
    return value


def run(args: argparse.Namespace, load: Callable[[str], Any]) -> int:
    """``thingmodel simulate``: build the plan (every input error first, as InvalidValue), run,
    print the summary; 0 when the run passed, 1 (and why, on stderr) when it did not."""
    from ..fleet.clouds import CloudSide, OwnCloud, RunningCloud
    from ..fleet.simulate import FleetPlan, Simulation

    devices = parse_devices(args.devices)
    shard = parse_shard(args.shard)
    seconds = _positive(args.seconds, "--seconds")
    every = _positive(args.report_every, "--report-every")
    if args.connect_concurrency < 1:
        raise InvalidValue(f"--connect-concurrency {args.connect_concurrency}: must be at least 1")
    _positive(args.connect_timeout, "--connect-timeout")
    overrides: dict[str, str] = {}
    for item in args.value:
        name, sep, gen = item.partition("=")
        if not sep or not name.strip():
            raise InvalidValue(f"--value {item}: expected NAME=GEN, like temperature=walk:20:30")
        overrides[name.strip()] = gen
    ids = device_ids(args.prefix, devices, shard)
    make, classes = service_factory(args.targets, load)
    cloud: CloudSide
    username, password = os.environ.get("THINGMODEL_USERNAME"), os.environ.get("THINGMODEL_PASSWORD")
    if args.cloud:
        cloud = RunningCloud(
            args.cloud,
            app_key=args.app_key,
            vendor=args.vendor,
            broker=args.broker,
            username=username,
            password=password,
        )
    else:
        cloud = OwnCloud(args.vendor or "huawei", args.broker)
    check_vendor_ids(cloud.vendor, ids[0][1], [c.service_id for c in classes])
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    plan = FleetPlan(
        make,
        classes,
        vendor=cloud.vendor,
        devices=devices,
        shard=shard,
        prefix=args.prefix,
        seconds=seconds,
        report_every=every,
        overrides=overrides,
        seed=seed,
        concurrency=args.connect_concurrency,
        connect_timeout=args.connect_timeout,
        username=username,
        password=password,
    )
    simulation = Simulation(plan, cloud, progress=sys.stderr)  # the generators are checked here
    if not args.verbose:  # each failure is counted and its first reason shown in the summary
        logging.getLogger("thingmodel").setLevel(logging.CRITICAL)
    print(
        f"simulating {len(ids)} {cloud.vendor} devices ({shard_text(shard, devices)}) against "
        f"{cloud.describe()} for {seconds:g} s, reporting every {every:g} s; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, _stop_on(stop))
    try:
        numbers = simulation.run(stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(numbers.as_json()) if args.json else summary_text(numbers), flush=True)
    code, why = verdict(numbers)
    if code:
        print(f"thingmodel: simulate: {why}", file=sys.stderr)
    return code


def shard_text(shard: Shard, devices: int) -> str:
    """``shard 1/3 of 2000`` or ``all of 2000``."""
    return f"all of {devices}" if shard.count == 1 else f"shard {shard} of {devices}"


def _stop_on(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler
