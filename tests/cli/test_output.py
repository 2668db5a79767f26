"""What the CLI prints for a person."""

from __future__ import annotations

from thingmodel.cli import output


def test_a_table_aligns_columns_on_the_widest_cell() -> None:
    assert output.table(["A", "LONG"], [["xyz", "1"], ["q", "22"]]).splitlines() == [
        "A    LONG",
        "xyz  1",
        "q    22",
    ]


def test_values_read_as_text_json_or_a_dash() -> None:
    assert [output.value_text(v) for v in ("hall", 1, True, None, {"a": 1}, " x")] == [
        "hall",
        "1",
        "true",
        "-",
        '{"a":1}',
        '" x"',
    ]


def test_times_read_as_how_long_ago() -> None:
    assert output.ago(100.0, now=103.0) == "3 s ago"
    assert output.ago(0.0, now=600.0) == "10 min ago"
    assert output.ago(None) == "never"


def test_a_shadow_is_a_table_per_service_with_the_delta_marked() -> None:
    answer = {
        "device": {"device_id": "d1", "online": True, "last_seen": None},
        "services": {
            "s": {"reported": {"a": 0, "b": "x"}, "desired": {"a": 1}, "delta": {"a": 1}, "version": 4}
        },
    }
    lines = output.shadow_view(answer, "huawei").splitlines()
    assert lines[0] == "device d1 (huawei): online, last seen never"
    assert lines[2] == "service s (version 4)"
    assert [line.split() for line in lines[3:]] == [
        ["PROPERTY", "REPORTED", "DESIRED", "DELTA"],
        ["a", "0", "1", "pending"],
        ["b", "x", "-"],
    ]


def test_a_refused_write_lists_each_reason() -> None:
    text = output.desire_view("d1", "s", {"ok": False, "pending": False, "errors": {"a": "too big"}})
    assert text == "d1/s: refused (a: too big)"


def test_a_trace_line_shows_direction_device_topic_and_payload() -> None:
    entry = {"time": 0.0, "kind": "up", "device_id": "d1", "topic": "t/x", "payload": "{}"}
    assert output.trace_line(entry).endswith("↑ d1  t/x  {}")
