"""The cloud's bounded memory of what devices sent (``Activity``) and its rate-limited log of bad
input (``ProblemLog``)."""

from __future__ import annotations

import logging

import pytest

from thingmodel.cloud.activity import Activity, ProblemLog
from thingmodel.protocol import messages as ev

log = logging.getLogger("tests.activity")


def test_the_newest_uplinks_of_each_kind_are_kept_per_device() -> None:
    activity = Activity(per_kind=3)
    for n in range(5):
        activity.keep(ev.MessageUp("d1", f"m{n}".encode()))
        activity.keep(ev.EventUp("d1", "s", f"e{n}"))
    kept = activity.of("d1")
    assert [m.payload for m in kept.messages] == [b"m2", b"m3", b"m4"]
    assert [e.event_type for e in kept.events] == ["e2", "e3", "e4"]


def test_past_its_device_limit_the_least_recently_active_device_is_forgotten() -> None:
    activity = Activity(max_devices=2)
    activity.keep(ev.DeviceInfo("d1", {}))
    activity.keep(ev.DeviceInfo("d2", {}))
    activity.keep(ev.DeviceLog("d1", {}))  # d1 is the most recently active now
    activity.keep(ev.DeviceInfo("d3", {}))
    assert activity.devices() == ["d1", "d3"]
    assert activity.of("d2") == activity.of("never-seen")


def test_what_is_kept_stays_within_its_byte_budget() -> None:
    activity = Activity(max_bytes=50_000)
    for n in range(20):
        activity.keep(ev.MessageUp(f"d{n}", b"x" * 10_000))
    assert activity.size <= 50_000
    assert activity.devices() == [f"d{n}" for n in range(16, 20)]
    for _ in range(20):  # one device alone over the budget keeps its newest
        activity.keep(ev.MessageUp("big", b"y" * 30_000))
    assert activity.size <= 50_000 and len(activity.of("big").messages) == 1


def test_each_system_service_of_a_device_is_reported_as_new_once() -> None:
    activity = Activity()
    first = [activity.keep(ev.SystemEventUp("d1", "$ota", "version_report")) for _ in range(3)]
    other = activity.keep(ev.SystemEventUp("d1", "$file_manager", "get_upload_url"))
    again = activity.keep(ev.SystemEventUp("d2", "$ota", "version_report"))
    assert (first, other, again) == ([True, False, False], True, True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_device_and_kind_a_second_and_the_count_of_the_rest_with_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    problems = ProblemLog(log, clock=clock)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(5):
            problems.log(logging.WARNING, "d1", "malformed report", "bad report from %s", "d1")
        problems.log(logging.WARNING, "d1", "bad id", "another kind of problem")
        clock.now += 1.0
        problems.log(logging.WARNING, "d1", "malformed report", "bad report from %s", "d1")
    assert [r.getMessage() for r in caplog.records] == [
        "bad report from d1",
        "another kind of problem",
        "bad report from d1 (and 4 more like it held back)",
    ]


def test_lines_over_the_overall_quota_are_held_back_and_counted_at_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = ProblemLog(log, overall=3, max_keys=5, clock=Clock())
    with caplog.at_level(logging.WARNING, logger=log.name):
        for n in range(100):
            problems.log(logging.WARNING, f"d{n}", "malformed", "bad message from d%d", n)
        problems.flush()
        problems.flush()  # nothing more to count
    assert [r.getMessage() for r in caplog.records] == [
        "bad message from d0",
        "bad message from d1",
        "bad message from d2",
        "97 more lines about bad device input were held back",
    ]


def test_each_kept_uplink_has_its_arrival_time() -> None:
    now = [100.0]
    activity = Activity(clock=lambda: now[0])
    activity.keep(ev.MessageUp("d", b"one"))
    now[0] = 105.0
    activity.keep(ev.MessageUp("d", b"two"))
    found = activity.of("d")
    assert [m.payload for m in found.messages] == [b"one", b"two"]
    assert found.received["messages"] == (100.0, 105.0)
