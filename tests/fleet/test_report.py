"""The progress line, the summary and the exit code, from a finished run's numbers."""

from __future__ import annotations

import attrs

from thingmodel.fleet.report import Progress, RunNumbers, ms, progress_line, summary_text, verdict

GOOD = RunNumbers(
    devices=2000,
    connected=2000,
    connect_seconds=12.3,
    seconds=20.0,
    sent=8000,
    received=8000,
    lost=0,
    latency_p50=0.0031,
    latency_p99=0.018,
    latency_max=0.25,
    steady_p50=0.0004,
    steady_p99=0.009,
    steady_max=0.02,
    missing_shadows=0,
    seed=7,
)


def test_the_progress_line_reads_as_the_issue_shows_it() -> None:
    line = progress_line(Progress(1998, 2000, 412.4, 0.0031, 0.018, 0))
    assert line == "connected 1998/2000  reports/s 412  latency p50 3.1 ms p99 18 ms  errors 0"


def test_latencies_without_a_sample_show_a_dash() -> None:
    assert ms(None) == "-"
    assert "latency p50 - p99 -" in progress_line(Progress(0, 5, 0, None, None, 0))


def test_a_run_where_everything_connected_and_arrived_passes() -> None:
    assert verdict(GOOD) == (0, "")


def test_a_device_that_did_not_connect_fails_the_run_saying_so_once() -> None:
    numbers = attrs.evolve(GOOD, connected=1998, errors={"connect": 2})
    assert verdict(numbers) == (1, "2 of 2000 devices did not connect")


def test_lost_dropped_errors_and_missing_shadows_each_fail_the_run_in_one_line() -> None:
    numbers = attrs.evolve(
        GOOD,
        received=7990,
        lost=10,
        dropped=3,
        errors={"value": 1, "unexpected report": 2},
        missing_shadows=4,
    )
    code, why = verdict(numbers)
    assert code == 1 and "\n" not in why
    assert why == (
        "10 of 8000 reports did not arrive; 3 messages dropped from offline queues; "
        "3 errors (unexpected report 2, value 1); 4 devices have no shadow in the cloud"
    )


def test_the_summary_names_every_number() -> None:
    text = summary_text(
        attrs.evolve(GOOD, errors={"connect": 1}, reasons={"connect": "sim-3: ConnectError: refused"})
    )
    assert "devices connected  2000/2000 in 12.3 s" in text
    assert "sent 8000, received 8000, lost 0 over 20.0 s" in text
    assert "p50 3.1 ms, p99 18 ms, max 250 ms" in text
    assert "once connected   p50 0.4 ms, p99 9.0 ms, max 20 ms" in text
    assert "errors             1 (connect 1)" in text
    assert "connect: sim-3: ConnectError: refused" in text
    assert "dropped            0" in text
    assert "shadows missing    0" in text
    assert "seed 7" in text


def test_an_interrupted_run_says_so_and_late_reports_are_shown() -> None:
    text = summary_text(attrs.evolve(GOOD, interrupted=True, late=5))
    assert "interrupted" in text.splitlines()[0]
    assert "reports late       5" in text


def test_the_numbers_serialise_as_json() -> None:
    assert GOOD.as_json()["connected"] == 2000
