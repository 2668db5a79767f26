"""The cloud side of OTA without a broker: the package store, the book of upgrades (its states,
bounds and waits), AWS Jobs' bookkeeping, and what each vendor's platform half publishes and
reads (fed to ``receive`` as a device puts it on the wire)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from thingmodel.cloud import ShadowCloud
from thingmodel.cloud.aws import AwsCloud
from thingmodel.cloud.files import StoreFull, TooLarge
from thingmodel.cloud.ota import (
    Package,
    PackageStore,
    Upgrade,
    UpgradeRunning,
    Upgrades,
    new_task_id,
    package_name_for,
)
from thingmodel.errors import InvalidValue, NotSupported
from thingmodel.protocol import messages as ev
from thingmodel.vendors import platform_codec


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def offer(
    device: str = "dev-1", task: str = "100000000001", version: str = "2.0", **kw: Any
) -> ev.OfferUpgrade:
    defaults: dict[str, Any] = {
        "url": "http://127.0.0.1:1/p",
        "size": 3,
        "sha256": "a" * 64,
        "md5": "b" * 32,
        "token": None,
        "task_id": task,
        "kind": "firmware",
    }
    defaults.update(kw)
    return ev.OfferUpgrade(device, version, **defaults)


def report(state: ev.UpgradeState, device: str = "dev-1", **kw: Any) -> ev.UpgradeReported:
    return ev.UpgradeReported(device, kw.pop("version", None), state, **kw)


# --- the package store ------------------------------------------------------------------------------
def test_a_package_is_stored_with_its_size_and_both_digests(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "pkgs")
    data = b"FW" + bytes(range(256)) * 1000
    package = store.add(data, version="1.1", name="fw-1.1.bin")
    assert (package.size, package.sha256, package.md5) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    )
    assert store.path(package.id).read_bytes() == data
    assert store.get(package.id) == package and store.packages() == [package]


def test_a_package_from_a_file_is_read_in_chunks_and_matches_the_file(tmp_path: Path) -> None:
    source = tmp_path / "image.bin"
    source.write_bytes(b"\x01" * (3 * 1024 * 1024 + 5))
    package = PackageStore(tmp_path / "pkgs").add(source, version="2.0", kind="software")
    assert package.size == source.stat().st_size and package.kind == "software"
    assert package.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


def test_the_same_bytes_version_and_name_are_one_package(tmp_path: Path) -> None:
    store = PackageStore(tmp_path)
    first = store.add(b"abc", version="1")
    assert store.add(b"abc", version="1") == first
    assert store.add(b"abc", version="2") != first
    assert len(store.packages()) == 2 and len(list(tmp_path.glob("*.bin"))) == 2


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (b"", {"version": "1"}, "must not be empty"),
        (b"x", {"version": ""}, "non-empty string"),
        (b"x", {"version": " 1"}, "without leading or trailing spaces"),
        (b"x", {"version": "v" * 65}, "1..64"),
        (b"x", {"version": "1", "name": "../etc/passwd"}, "package name"),
        (b"x", {"version": "1", "name": "a b"}, "package name"),
        (b"x", {"version": "1", "kind": "bootloader"}, "firmware or software"),
        ("text", {"version": "1"}, "bytes or a Path"),
        (Path("/no/such/file"), {"version": "1"}, "cannot read /no/such/file"),
    ],
)
def test_a_bad_package_is_refused_naming_why_and_nothing_is_stored(
    tmp_path: Path, data: Any, options: dict[str, Any], message: str
) -> None:
    store = PackageStore(tmp_path)
    with pytest.raises(InvalidValue, match=message.replace(".", r"\.")):
        store.add(data, **options)
    assert store.packages() == [] and list(tmp_path.iterdir()) == []


def test_a_package_over_the_byte_limit_is_refused_and_its_partial_file_removed(tmp_path: Path) -> None:
    store = PackageStore(tmp_path, max_bytes=1000)
    with pytest.raises(TooLarge, match="over the limit of 1000 bytes"):
        store.add(b"x" * 1001, version="1")
    assert list(tmp_path.iterdir()) == []


def test_a_full_store_forgets_the_least_recently_used_package_no_upgrade_needs(tmp_path: Path) -> None:
    busy: set[str] = set()
    store = PackageStore(tmp_path, max_packages=2, in_use=busy.__contains__)
    a = store.add(b"a", version="1")
    b = store.add(b"b", version="1")
    busy.add(a.id)
    store.find(b.id)  # used: b is now the most recent, but a is in use
    c = store.add(b"c", version="1")
    assert [p.id for p in store.packages()] == [a.id, c.id]
    assert not store.path(a.id).parent.joinpath(f"{b.id}.bin").exists()


def test_a_store_whose_every_package_is_in_use_refuses_a_new_one_saying_so(tmp_path: Path) -> None:
    store = PackageStore(tmp_path, max_packages=1, in_use=lambda _: True)
    store.add(b"a", version="1")
    with pytest.raises(StoreFull, match="every package is in use by an upgrade"):
        store.add(b"b", version="1")
    assert len(store.packages()) == 1 and len(list(tmp_path.glob("*.bin"))) == 1


def test_bytes_are_bounded_as_well_as_the_count(tmp_path: Path) -> None:
    store = PackageStore(tmp_path, max_packages=10, max_bytes=10)
    store.add(b"123456", version="1")
    store.add(b"7890", version="1")
    store.add(b"abc", version="1")  # 13 bytes would be over: the oldest goes
    assert [p.size for p in store.packages()] == [4, 3] and store.size == 7


def test_a_named_directory_keeps_its_packages_across_a_restart(tmp_path: Path) -> None:
    first = PackageStore(tmp_path / "p")
    package = first.add(b"persist", version="1.0", name="p.bin")
    (tmp_path / "p" / "half.part").write_bytes(b"crash leftover")
    first.close()
    again = PackageStore(tmp_path / "p")
    assert again.packages() == [package]
    assert not (tmp_path / "p" / "half.part").exists()


def test_a_package_whose_blob_is_not_whole_is_dropped_on_load(tmp_path: Path) -> None:
    package = PackageStore(tmp_path).add(b"0123456789", version="1")
    (tmp_path / f"{package.id}.bin").write_bytes(b"0123")
    assert PackageStore(tmp_path).packages() == []


def test_without_a_directory_packages_go_to_a_private_temporary_one_removed_on_close() -> None:
    store = PackageStore()
    package = store.add(b"tmp", version="1")
    directory = store.path(package.id).parent
    assert directory.is_dir() and oct(directory.stat().st_mode & 0o777) == "0o700"
    store.close()
    assert not directory.exists()


def test_a_file_name_becomes_a_package_name() -> None:
    assert package_name_for("fw 2.0 (final).bin") == "fw_2.0__final_.bin"
    assert package_name_for("...") == "package.bin"


# --- the book of upgrades ---------------------------------------------------------------------------
def test_an_upgrade_goes_from_pending_through_its_reports_to_success() -> None:
    clock = Clock()
    changes: list[Upgrade] = []
    book = Upgrades(clock=clock, on_change=changes.append)
    started = book.begin(offer(), package_id="pkg")
    assert (started.state, started.percent, started.started, started.revision) == (
        "pending",
        None,
        clock.now,
        0,
    )
    clock.now += 1
    assert isinstance(got := book.progress(report("downloading", percent=40)), Upgrade)
    assert (got.state, got.percent, got.updated) == ("downloading", 40, clock.now)
    book.progress(report("installing"))
    assert book.require(started.task_id).percent is None  # a new phase: no percent said yet
    clock.now += 1
    done = book.progress(report("succeeded", version="2.0"))
    assert isinstance(done, Upgrade)
    assert (done.state, done.percent, done.ended, done.terminal, done.ok) == (
        "succeeded",
        100,
        clock.now,
        True,
        True,
    )
    assert [c.state for c in changes] == ["pending", "downloading", "installing", "succeeded"]
    assert [c.revision for c in changes] == [0, 1, 2, 3]
    versions = book.versions("dev-1")
    assert versions is not None and versions.fw_version == "2.0"
    assert book.running("dev-1") is None and book.packages_in_use() == set()


def test_a_second_upgrade_while_one_runs_is_refused_naming_the_running_one() -> None:
    book = Upgrades()
    book.begin(offer())
    book.progress(report("downloading", percent=10))
    with pytest.raises(
        UpgradeRunning, match=r"already upgrading \(task 100000000001, to 2.0: downloading 10%\)"
    ):
        book.begin(offer(task="100000000002", version="3.0"))
    assert [u.task_id for u in book.of("dev-1")] == ["100000000001"]
    book.begin(offer(device="dev-2", task="100000000003"))  # another device may
    assert book.packages_in_use() == set()


def test_a_failure_keeps_the_reason_and_the_old_version() -> None:
    book = Upgrades()
    book.reported_versions("dev-1", "1.0", None)
    book.begin(offer())
    book.progress(report("downloading", percent=70))
    failed = book.progress(report("failed", failure="verify", reason="SHA-256 mismatch", version="1.0"))
    assert isinstance(failed, Upgrade)
    assert (failed.state, failed.failure, failed.reason, failed.percent) == (
        "failed",
        "verify",
        "SHA-256 mismatch",
        70,
    )
    assert failed.describe() == "failed (verify): SHA-256 mismatch"
    versions = book.versions("dev-1")
    assert versions is not None and versions.fw_version == "1.0"


def test_success_with_another_version_than_offered_is_a_failure() -> None:
    book = Upgrades()
    book.begin(offer())
    done = book.progress(report("succeeded", version="1.9"))
    assert isinstance(done, Upgrade)
    assert (done.state, done.failure) == ("failed", "version")
    assert "reports version '1.9' after the upgrade, not '2.0'" in done.reason


def test_reports_after_the_end_or_for_no_upgrade_change_nothing_and_say_why() -> None:
    book = Upgrades()
    assert "no upgrade runs" in str(book.progress(report("downloading")))
    book.begin(offer())
    book.progress(report("succeeded"))
    assert "has ended (succeeded)" in str(book.progress(report("failed", task_id="100000000001")))
    assert "no upgrade runs" in str(book.progress(report("failed")))
    assert book.require("100000000001").state == "succeeded"
    book.begin(offer(task="100000000002"))
    assert "has ended" in str(book.progress(report("failed", task_id="100000000001")))
    assert book.require("100000000002").state == "pending"


def test_a_report_naming_another_task_than_the_running_one_goes_to_its_own_task() -> None:
    book = Upgrades()
    book.begin(offer(task="100000000001"))
    stray = book.progress(report("downloading", task_id="999999999999", percent=5))
    assert isinstance(stray, Upgrade) and stray.task_id == "100000000001"  # the device's running one


def test_a_silent_device_fails_its_upgrade_by_the_clock() -> None:
    clock = Clock()
    book = Upgrades(clock=clock, stall_timeout=60)
    book.begin(offer())
    clock.now += 59
    assert book.require("100000000001").state == "pending"
    clock.now += 2
    ended = book.require("100000000001")
    assert (ended.state, ended.failure) == ("failed", "timeout")
    assert "no word from the device for 60 s" in ended.reason
    book.begin(offer(task="100000000002"))  # the device may be upgraded again


def test_cancel_ends_a_running_upgrade_and_refuses_an_ended_one() -> None:
    book = Upgrades()
    book.begin(offer())
    cancelled = book.cancel("100000000001")
    assert (cancelled.state, cancelled.failure) == ("failed", "cancelled")
    with pytest.raises(InvalidValue, match="has ended already"):
        book.cancel("100000000001")
    with pytest.raises(InvalidValue, match="no upgrade 'nope'"):
        book.cancel("nope")


def test_the_history_is_bounded_per_device_and_in_all_never_dropping_a_running_upgrade() -> None:
    book = Upgrades(history=5, per_device=3)
    for n in range(6):
        book.begin(offer(task=f"1{n:011d}"))
        book.progress(report("failed", failure="install"))
    assert len(book.of("dev-1")) == 3
    for d in range(4):
        book.begin(offer(device=f"other-{d}", task=f"2{d:011d}"))  # running: kept
    assert len(book.of("dev-1")) + sum(len(book.of(f"other-{d}")) for d in range(4)) <= 7
    assert all(book.running(f"other-{d}") is not None for d in range(4))


def test_wait_returns_at_the_end_or_as_it_stands_when_the_time_is_up() -> None:
    book = Upgrades()
    book.begin(offer())
    assert book.wait("100000000001", 0.05).state == "pending"

    seen = threading.Event()

    def finish() -> None:
        time.sleep(0.05)
        book.progress(report("downloading", percent=1))
        seen.wait(10)  # the end comes once the first wait has returned, however late it woke
        book.progress(report("succeeded"))

    threading.Thread(target=finish).start()
    began = time.monotonic()
    assert book.wait("100000000001", 5, after=0).state == "downloading"
    seen.set()
    assert book.wait("100000000001", 5).state == "succeeded"
    assert time.monotonic() - began < 2
    with pytest.raises(InvalidValue, match="no upgrade"):
        book.wait("000000000000", 0)


def test_task_ids_are_twelve_digits() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 12 and i.isdigit() for i in ids)


# --- AWS Jobs bookkeeping ---------------------------------------------------------------------------
def test_start_next_moves_a_queued_job_to_in_progress_once() -> None:
    book = Upgrades()
    book.begin(offer(device="thing"))
    found = book.next_job("thing", start=True)
    assert found is not None and found[1:] == ("IN_PROGRESS", 2)
    again = book.next_job("thing", start=True)
    assert again is not None and again[1:] == ("IN_PROGRESS", 2)
    assert book.next_job("other", start=True) is None


def test_a_job_update_after_the_end_is_an_invalid_state_transition_and_an_unknown_job_not_found() -> None:
    book = Upgrades()
    book.begin(offer(device="thing"))
    upgrade, code, _ = book.job_update(
        report("succeeded", device="thing", task_id="100000000001", code="SUCCEEDED")
    )
    assert code is None and upgrade is not None and upgrade.state == "succeeded"
    _, code, reason = book.job_update(report("failed", device="thing", task_id="100000000001", code="FAILED"))
    assert code == "InvalidStateTransition" and "SUCCEEDED" in reason
    _, code, _ = book.job_update(report("downloading", device="thing", task_id="123", code="IN_PROGRESS"))
    assert code == "ResourceNotFound"
    _, code, _ = book.job_update(report("downloading", device="not-its", task_id="100000000001"))
    assert code == "ResourceNotFound"


# --- the platform halves ----------------------------------------------------------------------------
class Rig:
    """A vendor cloud and what it published, as (topic, JSON)."""

    def __init__(self, vendor: str) -> None:
        self.published: list[ev.Outgoing] = []
        if vendor == "aws":
            self.cloud: Any = AwsCloud(self.published.append)
        else:
            self.cloud = ShadowCloud(platform_codec(vendor), self.published.append)

    def sent(self) -> list[tuple[str, Any]]:
        out = [(m.topic, json.loads(m.payload)) for m in self.published]
        self.published.clear()
        return out

    def send(self, topic: str, body: Any) -> list[tuple[str, Any]]:
        self.cloud.receive(topic, json.dumps(body).encode())
        return self.sent()


def huawei_event(event_type: str, paras: dict[str, Any]) -> dict[str, Any]:
    return {"services": [{"service_id": "$ota", "event_type": event_type, "paras": paras}]}


def test_huawei_gets_a_firmware_upgrade_event_with_the_token_and_its_reports_move_the_upgrade() -> None:
    rig = Rig("huawei")
    rig.cloud.start_upgrade(
        offer(token="tmtok_secret", url="http://127.0.0.1:9/thingmodel/v1/packages/p/fw.bin")
    )
    [(topic, body)] = rig.sent()
    assert topic == "$oc/devices/dev-1/sys/events/down"
    [service] = body["services"]
    assert (service["service_id"], service["event_type"]) == ("$ota", "firmware_upgrade")
    paras = service["paras"]
    assert paras["access_token"] == "tmtok_secret" and paras["sign"] == "a" * 64 and paras["file_size"] == 3
    up = "$oc/devices/dev-1/sys/events/up"
    rig.send(
        up, huawei_event("upgrade_progress_report", {"result_code": 0, "progress": 30, "version": "2.0"})
    )
    assert rig.cloud.ota.book.require("100000000001").describe() == "downloading 30%"
    rig.send(
        up, huawei_event("upgrade_progress_report", {"result_code": 0, "progress": 100, "version": "2.0"})
    )
    assert rig.cloud.ota.book.require("100000000001").state == "succeeded"
    rig.send(up, huawei_event("version_report", {"fw_version": "2.0", "sw_version": "s1"}))
    versions = rig.cloud.ota.book.versions("dev-1")
    assert (versions.fw_version, versions.sw_version) == ("2.0", "s1")


def test_huawei_failure_codes_read_as_the_neutral_failure() -> None:
    rig = Rig("huawei")
    rig.cloud.start_upgrade(offer())
    rig.sent()
    paras = {"result_code": 7, "version": "1.0", "description": "sign mismatch"}
    rig.send("$oc/devices/dev-1/sys/events/up", huawei_event("upgrade_progress_report", paras))
    failed = rig.cloud.ota.book.require("100000000001")
    assert (failed.state, failed.failure, failed.reason) == ("failed", "verify", "sign mismatch")


def test_huawei_can_be_asked_for_its_versions_and_the_others_cannot() -> None:
    rig = Rig("huawei")
    rig.cloud.query_version("dev-1")
    [(_, body)] = rig.sent()
    assert body["services"][0]["event_type"] == "version_query"
    for vendor in ("tencent-hub", "tencent-explorer", "aws"):
        with pytest.raises(NotSupported, match="cannot be asked for their versions"):
            Rig(vendor).cloud.query_version("P123456789.d" if vendor != "aws" else "thing")


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_tencent_gets_update_firmware_and_a_version_report_is_answered(vendor: str) -> None:
    rig = Rig(vendor)
    device = "ABCDEFGHIJ.dev1"
    rig.cloud.start_upgrade(offer(device=device, url="http://h/p?token=tmtok_x"))
    [(topic, body)] = rig.sent()
    assert topic == "$ota/update/ABCDEFGHIJ/dev1"
    assert (body["type"], body["md5sum"], body["version"], body["url"]) == (
        "update_firmware",
        "b" * 32,
        "2.0",
        "http://h/p?token=tmtok_x",
    )
    up = "$ota/report/ABCDEFGHIJ/dev1"
    progress = {"state": "downloading", "percent": "55", "result_code": "0", "result_msg": ""}
    rig.send(up, {"type": "report_progress", "report": {"progress": progress, "version": "2.0"}})
    assert rig.cloud.ota.book.require("100000000001").describe() == "downloading 55%"
    fail = {"state": "fail", "result_code": "-4", "result_msg": "md5 mismatch"}
    rig.send(up, {"type": "report_progress", "report": {"progress": fail, "version": "2.0"}})
    assert rig.cloud.ota.book.require("100000000001").failure == "verify"
    [(topic, answer)] = rig.send(up, {"type": "report_version", "report": {"version": "1.0"}})
    assert topic == "$ota/update/ABCDEFGHIJ/dev1"
    assert (answer["type"], answer["result_code"], answer["version"]) == ("report_version_rsp", 0, "1.0")


def test_aws_queues_a_job_answers_start_next_and_each_update() -> None:
    rig = Rig("aws")
    rig.cloud.start_upgrade(offer(device="thing", url="http://h/p?token=tmtok_x"))
    [(topic, notify)] = rig.sent()
    assert topic == "$aws/things/thing/jobs/notify-next"
    assert notify["execution"]["jobId"] == "100000000001" and notify["execution"]["status"] == "QUEUED"
    jobs = "$aws/things/thing/jobs/"
    [(topic, started)] = rig.send(jobs + "start-next", {"clientToken": "c1"})
    assert topic == jobs + "start-next/accepted" and started["clientToken"] == "c1"
    assert (started["execution"]["status"], started["execution"]["versionNumber"]) == ("IN_PROGRESS", 2)
    update = {
        "status": "IN_PROGRESS",
        "statusDetails": {"state": "downloading", "percent": "20"},
        "clientToken": "c2",
    }
    [(topic, _)] = rig.send(jobs + "100000000001/update", update)
    assert topic == jobs + "100000000001/update/accepted"
    done = {
        "status": "SUCCEEDED",
        "statusDetails": {"state": "succeeded", "version": "2.0"},
        "clientToken": "c3",
    }
    rig.send(jobs + "100000000001/update", done)
    assert rig.cloud.ota.book.require("100000000001").state == "succeeded"
    [(topic, rejected)] = rig.send(jobs + "100000000001/update", {"status": "FAILED", "clientToken": "c4"})
    assert topic == jobs + "100000000001/update/rejected" and rejected["code"] == "InvalidStateTransition"
    [(topic, rejected)] = rig.send(jobs + "555/update", {"status": "IN_PROGRESS", "clientToken": "c5"})
    assert topic == jobs + "555/update/rejected" and rejected["code"] == "ResourceNotFound"
    [(topic, none)] = rig.send(jobs + "start-next", {"clientToken": "c6"})
    assert topic == jobs + "start-next/accepted" and "execution" not in none


def test_an_offer_the_codec_cannot_send_is_refused_and_nothing_is_kept() -> None:
    rig = Rig("huawei")
    with pytest.raises(InvalidValue, match="the offer cannot be sent to dev-1"):
        rig.cloud.start_upgrade(offer(sha256="not-hex"))
    assert rig.cloud.ota.book.of("dev-1") == [] and rig.sent() == []


def test_the_package_record_is_plain_json() -> None:
    package = Package("id1", "fw.bin", "1.0", 3, "a" * 64, "b" * 32, "firmware", 1.5)
    assert json.loads(json.dumps(package.as_json()))["sha256"] == "a" * 64
