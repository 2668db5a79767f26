"""Time sync: the offset formula, matching answers to requests, and FakeCloud's fake-clock answers."""

from __future__ import annotations

import pytest

from thingmodel import CodecError
from thingmodel.engine.core import TimeRequests, time_offset
from thingmodel.protocol import messages as ev
from thingmodel.testing import FakeCloud

from ..fuzz.test_codecs_fuzz import Detector


def test_the_offset_is_the_ntp_formula_in_seconds() -> None:
    # device sends at 1000, server receives at 1600, replies at 1610, device receives at 1020:
    # (1600 + 1610 + 1020 - 1000) / 2 - 1020 = 595 ms
    assert time_offset(1000, 1600, 1610, 1020) == pytest.approx(0.595)
    assert time_offset(5000, 5000, 5000, 5000) == 0.0
    assert time_offset(2000, 1000, 1000, 2000) == pytest.approx(-1.0)


def test_an_answer_finds_its_request_by_id_by_echoed_send_time_or_as_the_oldest() -> None:
    requests = TimeRequests(limit=3)
    requests.ask("a", 10)
    requests.ask("b", 20)
    requests.ask("c", 30)
    assert requests.match(ev.TimeAnswered("b", None, 1, 2)) == ("b", 20)
    assert requests.match(ev.TimeAnswered(None, 30, 1, 2)) == ("c", 30)
    assert requests.match(ev.TimeAnswered(None, None, 1, 2)) == ("a", 10)
    assert requests.match(ev.TimeAnswered(None, None, 1, 2)) is None


def test_outstanding_requests_are_bounded() -> None:
    requests = TimeRequests(limit=2)
    for index in range(5):
        requests.ask(f"r{index}", index)
    assert len(requests) == 2
    assert requests.match(ev.TimeAnswered(None, None, 1, 2)) == ("r3", 3)


@pytest.mark.parametrize("vendor", ["huawei", "tencent-hub", "tencent-explorer"])
def test_fake_cloud_answers_with_its_fake_clock(vendor: str) -> None:
    with FakeCloud(Detector(), vendor=vendor, device_id="ABCDEFGHIJ.dev1", device_skew=2.5) as cloud:
        assert cloud.time_sync() == pytest.approx(-2.5)
        assert cloud.time_offset == pytest.approx(-2.5)
        cloud.advance(30)  # the clock moved, the skew did not
        assert cloud.time_sync() == pytest.approx(-2.5)


def test_fake_cloud_periodic_time_sync_runs_as_the_fake_clock_moves() -> None:
    with FakeCloud(Detector(), device_skew=-1.0) as cloud:
        cloud.enable_time_sync(10)
        cloud.advance(25)
        asks = [t for t, p in cloud.messages if t.endswith("events/up") and "$time_sync" in str(p)]
        assert len(asks) == 2
        assert cloud.time_offset == pytest.approx(1.0)
        cloud.disable_time_sync()
        cloud.advance(30)
        assert len([t for t, p in cloud.messages if "$time_sync" in str(p) and t.endswith("events/up")]) == 2


def test_fake_cloud_offline_time_sync_times_out() -> None:
    with FakeCloud(Detector()) as cloud:
        cloud.disconnect()
        with pytest.raises(TimeoutError, match="offline"):
            cloud.time_sync()


def test_aws_says_it_has_no_time_service() -> None:
    with FakeCloud(Detector(), vendor="aws") as cloud, pytest.raises(CodecError, match="NTP"):
        cloud.time_sync()
