"""``--shard i/n``, ``--devices N`` and the fleet's ids."""

from __future__ import annotations

import pytest

from thingmodel.errors import InvalidValue
from thingmodel.fleet.shard import Shard, check_vendor_ids, device_ids, parse_devices, parse_shard


def test_shard_1_of_3_runs_the_indices_that_are_1_modulo_3() -> None:
    assert list(parse_shard("1/3").indices(10)) == [1, 4, 7]


def test_the_shards_of_a_fleet_run_each_device_once() -> None:
    seen = sorted(i for k in range(4) for i in parse_shard(f"{k}/4").indices(103))
    assert seen == list(range(103))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/3", "--shard 3/3: i must be 0..2 (shards are numbered from 0)"),
        ("-1/3", "--shard -1/3: i must be 0..2 (shards are numbered from 0)"),
        ("0/0", "--shard 0/0: n must be at least 1"),
        ("1", "--shard 1: expected i/n, like 0/4 (shard i of n, from 0)"),
        ("a/b", "--shard a/b: expected i/n, like 0/4 (shard i of n, from 0)"),
    ],
)
def test_a_shard_that_is_not_i_of_n_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_shard(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "reason"),
    [("0", "must be at least 1"), ("-5", "must be at least 1"), ("x", "not a whole number")],
)
def test_devices_must_be_a_whole_number_of_at_least_one(text: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_devices(text)
    assert str(caught.value) == f"--devices {text}: {reason}"


def test_ids_are_the_prefix_and_the_fleet_index() -> None:
    assert device_ids("sim-", 5, Shard(1, 2)) == [(1, "sim-1"), (3, "sim-3")]
    assert device_ids("", 2) == [(0, "0"), (1, "1")]


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [("a/b-", "contains a slash"), ("a+", "MQTT wildcard '+'"), ("x" * 128, "characters long (max 128)")],
)
def test_a_prefix_that_would_break_a_topic_is_refused(prefix: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        device_ids(prefix, 10)
    assert str(caught.value).startswith(f"--prefix {prefix!r}: ") and reason in str(caught.value)


def test_a_shard_with_no_device_is_refused() -> None:
    with pytest.raises(InvalidValue, match="--shard 3/4 of --devices 2 holds no device"):
        device_ids("sim-", 2, Shard(3, 4))


def test_tencent_ids_need_a_product_id_and_the_error_says_so() -> None:
    check_vendor_ids("tencent-hub", "P1.sim-0", ["light"])
    with pytest.raises(InvalidValue) as caught:
        check_vendor_ids("tencent-hub", "sim-0", ["light"])
    assert "ProductId.DeviceName" in str(caught.value)
    assert str(caught.value).endswith("(give --prefix PRODUCTID.sim-)")
