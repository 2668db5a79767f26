"""The simulation's plan, before anything connects: ids and the devices' phases; and how a run
ends."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import pytest

from thingmodel import Property, Service
from thingmodel.errors import InvalidValue
from thingmodel.fleet.clouds import OwnCloud
from thingmodel.fleet.probe import OnReport
from thingmodel.fleet.shard import Shard
from thingmodel.fleet.simulate import FleetPlan, Simulation
from thingmodel.fleet.stats import Tally


class Lamp(Service):
    service_id = "lamp"
    level = Property(int, minimum=0, maximum=3)


class NoCloud:
    """A cloud side the plan's tests never start."""

    vendor = "huawei"
    broker = "mqtt://127.0.0.1:1"

    def start(self, on_report: OnReport) -> None:
        raise AssertionError("not started in these tests")

    def missing_shadows(self, device_ids: Sequence[str]) -> list[str]:
        return []

    def stop(self) -> None:
        pass

    def describe(self) -> str:
        return "no cloud"


def plan(**options: object) -> FleetPlan:
    return FleetPlan(lambda: [Lamp()], (Lamp,), **options)  # type: ignore[arg-type]


def test_the_devices_phases_are_spread_evenly_over_the_period() -> None:
    simulation = Simulation(plan(devices=4, report_every=2.0), NoCloud())
    assert [m.offset for m in simulation.members] == [0.0, 0.5, 1.0, 1.5]


def test_a_shard_holds_its_devices_ids_and_spreads_its_own_phases() -> None:
    simulation = Simulation(plan(devices=10, shard=Shard(1, 3), prefix="car-", report_every=3.0), NoCloud())
    assert [(m.index, m.device_id) for m in simulation.members] == [(1, "car-1"), (4, "car-4"), (7, "car-7")]
    assert [m.offset for m in simulation.members] == [0.0, 1.0, 2.0]


def test_a_bad_value_override_stops_the_plan_before_the_cloud_starts() -> None:
    with pytest.raises(InvalidValue, match="--value level=const:9: 9 is above the maximum 3"):
        Simulation(plan(devices=2, overrides={"level": "const:9"}), NoCloud())


class LateSends(Tally):
    """Records each send a while after the device emitted it, as a busy machine may: the cloud
    has seen the report by then."""

    def sent(self, device_id: str, keys: Iterable[str], at: float | None = None) -> None:
        keys = list(keys)
        time.sleep(0.5)
        super().sent(device_id, keys, at)


@pytest.mark.broker
def test_a_run_ends_only_once_every_report_it_sent_is_counted_and_matched() -> None:
    simulation = Simulation(plan(devices=2, seconds=0.1, report_every=30.0), OwnCloud("huawei"))
    simulation.tally = LateSends()
    numbers = simulation.run()
    assert (numbers.connected, numbers.sent, numbers.received, numbers.lost) == (2, 2, 2, 0)
    assert numbers.errors == {}
