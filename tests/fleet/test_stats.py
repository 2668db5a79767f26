"""Reports sent and arrived, matched per device and shadow; the latency histogram."""

from __future__ import annotations

import pytest

from thingmodel.fleet.stats import MAX_PENDING, Histogram, Tally, percentile


def tally() -> Tally:
    t = Tally(clock=lambda: 0.0)
    t.watch("d1", ["a", "b"])
    return t


def test_each_arrival_matches_the_oldest_report_of_its_device_and_shadow() -> None:
    t = tally()
    t.sent("d1", ["a"], at=1.0)
    t.sent("d1", ["a"], at=2.0)
    t.sent("d1", ["b"], at=2.5)
    t.arrived("d1", ["a"], at=1.5)
    t.arrived("d1", ["b"], at=3.0)
    assert (t.sent_count, t.received, t.lost) == (3, 2, 1)
    assert t.histogram.max == pytest.approx(0.5)
    t.arrived("d1", ["a"], at=2.25)
    assert (t.received, t.lost) == (3, 0)
    assert t.wait_drained(0)


def test_an_arrival_seen_before_its_send_matches_it_with_latency_zero() -> None:
    t = tally()
    t.arrived("d1", ["a"], at=1.0)
    assert t.received == 0
    t.sent("d1", ["a"], at=1.2)
    assert (t.received, t.lost, t.histogram.max) == (1, 0, 0.0)


def test_an_arrival_waiting_for_its_send_keeps_the_run_from_settling() -> None:
    t = tally()
    t.arrived("d1", ["a"], at=1.0)
    assert t.pending == 0
    assert not t.wait_drained(0)
    t.sent("d1", ["a"], at=1.2)
    assert t.wait_drained(0)
    t.finish()
    assert (t.received, t.lost, t.unexpected) == (1, 0, 0)


def test_arrivals_of_other_devices_and_shadows_are_not_counted() -> None:
    t = tally()
    t.sent("d1", ["a"], at=1.0)
    t.arrived("d2", ["a"], at=1.1)
    t.arrived("d1", ["device-info"], at=1.1)
    t.arrived(None, ["a"], at=1.1)
    t.finish()
    assert (t.received, t.lost, t.unexpected) == (0, 1, 0)


def test_arrivals_never_sent_are_unexpected_at_the_end() -> None:
    t = tally()
    t.arrived("d1", ["a"], at=1.0)
    t.finish()
    assert t.unexpected == 1


def test_reports_past_the_pending_limit_are_counted_lost_not_kept() -> None:
    t = tally()
    for i in range(MAX_PENDING + 5):
        t.sent("d1", ["a"], at=float(i))
    assert (t.pending, t.overflowed, t.lost) == (MAX_PENDING, 5, MAX_PENDING + 5)
    assert not t.wait_drained(0)


def test_the_window_holds_only_recent_latencies() -> None:
    now = [100.0]
    t = Tally(clock=lambda: now[0])
    t.watch("d1", ["a"])
    t.sent("d1", ["a"], at=1.0)
    t.arrived("d1", ["a"], at=2.0)  # 1 s, long ago
    t.sent("d1", ["a"], at=99.0)
    t.arrived("d1", ["a"], at=99.01)
    p50, p99 = t.window(seconds=10)
    assert p50 == p99 == pytest.approx(0.01)
    now[0] = 1000.0
    assert t.window(seconds=10) == (None, None)


def test_histogram_percentiles_are_within_two_percent() -> None:
    h = Histogram()
    samples = [i / 10000 for i in range(1, 10001)]  # 0.1 ms .. 1 s
    for s in samples:
        h.add(s)
    for q in (50, 90, 99):
        exact = percentile(samples, q)
        assert exact is not None
        assert h.percentile(q) == pytest.approx(exact, rel=0.02)
    assert h.max == 1.0 and h.count == 10000
    assert h.percentile(100) == 1.0


def test_an_empty_histogram_has_no_percentile() -> None:
    assert Histogram().percentile(50) is None
    assert percentile([], 50) is None


def test_only_reports_sent_once_the_fleet_connected_count_as_steady() -> None:
    t = tally()
    t.sent("d1", ["a"], at=1.0)
    t.steady_since = 2.0
    t.sent("d1", ["b"], at=2.0)
    t.arrived("d1", ["a"], at=4.0)  # 3 s: sent while the fleet was still connecting
    t.arrived("d1", ["b"], at=2.5)
    assert (t.histogram.count, t.histogram.max) == (2, 3.0)
    assert (t.steady.count, t.steady.max) == (1, 0.5)
