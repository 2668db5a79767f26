"""FakeCloud holding a gateway and its children, on each vendor's gateway protocol, in memory."""

from __future__ import annotations

import pytest

from thingmodel import Property, Service, command
from thingmodel.testing import FakeCloud


class Meter(Service):
    service_id = "meter"
    power = Property(float, default=0.0)
    relay = Property(int, writeable=True, minimum=0, maximum=1, default=0)

    def __init__(self) -> None:
        self.relay_writes: list[int] = []
        self.resets = 0

    def set_relay(self, value: int) -> None:
        self.relay_writes.append(value)

    @command("reset")
    def reset(self) -> dict[str, int]:
        self.resets += 1
        return {"resets": self.resets}


class Bridge(Service):
    service_id = "bridge"
    uptime = Property(int, default=0)


GATEWAYS = [
    ("huawei", "gw-1", "meter-1", "meter-2"),
    ("tencent-explorer", "GWPROD0001.gw1", "METERPROD1.m1", "METERPROD1.m2"),
    ("tencent-hub", "GWPROD0001.gw1", "METERPROD1.m1", "METERPROD1.m2"),
    ("aws", "gw-1", "meter-1", "meter-2"),
]


@pytest.mark.parametrize(("vendor", "gateway_id", "first", "second"), GATEWAYS)
def test_each_child_reports_into_its_own_shadow_and_takes_its_own_writes(
    vendor: str, gateway_id: str, first: str, second: str
) -> None:
    one, two = Meter(), Meter()
    fake = FakeCloud(Bridge(), vendor=vendor, device_id=gateway_id, children={first: [one], second: [two]})
    one.power, two.power = 1.5, 2.5
    one.report()
    two.report()
    assert fake.child(first).reported["meter"]["power"] == 1.5
    assert fake.child(second).reported["meter"]["power"] == 2.5
    assert fake.child(first).online
    ack = fake.child(second).desire({"relay": 1})
    assert ack.ok, ack
    assert (one.relay_writes, two.relay_writes) == ([], [1])
    assert fake.child(second).reported["meter"]["relay"] == 1
    assert not fake.errors, fake.errors


@pytest.mark.parametrize(
    ("vendor", "gateway_id", "first", "second"), [g for g in GATEWAYS if g[0] != "tencent-hub"]
)
def test_a_command_for_a_child_runs_on_that_child(
    vendor: str, gateway_id: str, first: str, second: str
) -> None:
    one, two = Meter(), Meter()
    fake = FakeCloud(Bridge(), vendor=vendor, device_id=gateway_id, children={first: [one], second: [two]})
    answer = fake.child(first).command("reset")
    assert answer.ok, answer
    # AWS IoT commands carry the result as strings
    assert answer.params == ({"resets": "1"} if vendor == "aws" else {"resets": 1})
    assert (one.resets, two.resets) == (1, 0)


def test_childrens_auto_reports_run_on_the_fake_clock() -> None:
    meter = Meter()
    fake = FakeCloud(Bridge(), device_id="gw-1", children={"meter-1": [meter]})
    meter.enable_auto_report(10)
    before = len(fake.reports)
    fake.advance(35)
    assert len(fake.reports) - before == 3


def test_a_child_that_is_not_there_is_named() -> None:
    fake = FakeCloud(Bridge(), device_id="gw-1", children={"meter-1": [Meter()]})
    with pytest.raises(KeyError, match=r"no child 'meter-9'.*meter-1"):
        fake.child("meter-9")
