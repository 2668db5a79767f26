"""The upgrade sequence without I/O: an offer, a fetch that answers at once, the uplinks sent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from thingmodel.engine.ota import Downloaded, Fetched, Progress, Upgrader
from thingmodel.engine.scheduling import FakeClock
from thingmodel.features.ota import Ota, Package
from thingmodel.protocol.messages import ReportVersion, UpgradeOffer, UpgradeProgress, Uplink

DATA = b"firmware 1.1 " * 1000
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


class Firmware(Ota):
    def __init__(self, directory: Path, *, fail: bool = False) -> None:
        self.running = "1.0"
        self.fail = fail
        self.installed: list[bytes] = []
        self.download_dir = directory

    def version(self) -> str:
        return self.running

    def install(self, package: Package) -> None:
        if self.fail:
            raise OSError("flash is write-protected")
        self.installed.append(package.path.read_bytes())
        self.running = package.version


class Harness:
    def __init__(self, ota: Firmware, data: bytes = DATA, *, deliver: bool = True) -> None:
        self.sent: list[Uplink] = []
        self.errors: list[str] = []
        self.data, self.deliver = data, deliver
        self.pending: list[tuple[Path, Progress, Fetched]] = []
        self.clock = FakeClock()
        self.upgrader = Upgrader(
            ota, self.sent.append, self.fetch, self.clock, lambda k, r: self.errors.append(r)
        )

    def fetch(self, offer: UpgradeOffer, dest: Path, progress: Progress, fetched: Fetched) -> None:
        self.pending.append((dest, progress, fetched))
        if self.deliver:
            self.finish()

    def finish(self) -> None:
        dest, progress, fetched = self.pending.pop()
        half = len(self.data) // 2
        progress(half, len(self.data))
        self.clock.advance(2)
        progress(len(self.data), len(self.data))
        dest.write_bytes(self.data)
        got = Downloaded(
            dest, len(self.data), hashlib.sha256(self.data).hexdigest(), hashlib.md5(self.data).hexdigest()
        )
        fetched(got)

    def progress(self) -> list[UpgradeProgress]:
        return [m for m in self.sent if isinstance(m, UpgradeProgress)]


def offer(**changes: object) -> UpgradeOffer:
    fields: dict[str, object] = {
        "version": "1.1",
        "url": "http://cloud/p/fw.bin",
        "size": len(DATA),
        "sha256": SHA,
    }
    fields.update(changes)
    return UpgradeOffer(**fields)  # type: ignore[arg-type]


def test_an_upgrade_downloads_installs_and_reports_success_then_the_new_version(tmp_path: Path) -> None:
    ota = Firmware(tmp_path)
    h = Harness(ota)
    h.upgrader.offer(offer(task_id="t1"))
    states = [(p.state, p.percent) for p in h.progress()]
    assert states[0] == ("downloading", 0)
    assert ("installing", 100) in states and states[-1] == ("succeeded", 100)
    assert all(p.task_id == "t1" for p in h.progress())
    assert ota.installed == [DATA] and ota.running == "1.1"
    assert h.sent[-1] == ReportVersion("1.1", None)
    assert not list(tmp_path.iterdir())  # the package file is gone once installed
    assert not h.upgrader.busy


def test_download_progress_is_reported_at_most_once_a_second(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path))
    h.upgrader.offer(offer())
    downloading = [p.percent for p in h.progress() if p.state == "downloading"]
    assert downloading == [0, 50, 99]  # 0 at the start; 50 and the last chunk a fake second apart


def test_a_hash_mismatch_is_refused_reported_and_the_old_version_kept(tmp_path: Path) -> None:
    ota = Firmware(tmp_path)
    h = Harness(ota, data=DATA[:-1] + b"X")
    h.upgrader.offer(offer())
    last = h.progress()[-1]
    assert (last.state, last.failure, last.current_version) == ("failed", "verify", "1.0")
    assert "SHA-256" in last.reason
    assert ota.installed == [] and ota.running == "1.0"
    assert "failed (verify)" in h.errors[0]


def test_a_size_mismatch_is_refused_before_the_hash(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path))
    h.upgrader.offer(offer(size=len(DATA) + 1))
    assert h.progress()[-1].failure == "verify" and "size" in h.progress()[-1].reason


def test_md5_is_checked_where_the_vendor_sends_md5(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path))
    h.upgrader.offer(offer(sha256=None, md5="0" * 32))
    assert "MD5" in h.progress()[-1].reason
    h2 = Harness(Firmware(tmp_path))
    h2.upgrader.offer(offer(sha256=None, md5=MD5.upper()))
    assert h2.progress()[-1].state == "succeeded"


def test_an_offer_without_any_hash_is_refused_without_downloading(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path))
    h.upgrader.offer(offer(sha256=None))
    assert h.pending == [] and [p.state for p in h.progress()] == ["failed"]
    assert "no hash" in h.progress()[0].reason


def test_an_install_that_raises_is_reported_failed_with_the_old_version(tmp_path: Path) -> None:
    ota = Firmware(tmp_path, fail=True)
    h = Harness(ota)
    h.upgrader.offer(offer())
    last = h.progress()[-1]
    assert (last.state, last.failure, last.current_version) == ("failed", "install", "1.0")
    assert "write-protected" in last.reason
    assert not any(isinstance(m, ReportVersion) for m in h.sent)
    assert not h.upgrader.busy


def test_a_second_offer_while_one_runs_is_refused_as_busy_and_the_first_goes_on(tmp_path: Path) -> None:
    ota = Firmware(tmp_path)
    h = Harness(ota, deliver=False)
    h.upgrader.offer(offer(task_id="a"))
    h.upgrader.offer(offer(version="1.2", task_id="b"))
    busy = h.progress()[-1]
    assert (busy.state, busy.failure, busy.task_id) == ("failed", "busy", "b")
    h.finish()
    assert h.progress()[-1].state == "succeeded" and h.progress()[-1].task_id == "a"
    assert ota.running == "1.1"


def test_a_failed_download_is_reported_with_its_reason(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path), deliver=False)
    h.upgrader.offer(offer())
    _, _, fetched = h.pending.pop()
    fetched("http://cloud/p/fw.bin: HTTP 404 Not Found")
    last = h.progress()[-1]
    assert (last.state, last.failure) == ("failed", "download") and "404" in last.reason
    assert not h.upgrader.busy


def test_the_version_already_running_is_not_downloaded_again(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path))
    h.upgrader.offer(offer(version="1.0"))
    assert h.pending == [] and h.progress()[-1].failure == "current"


def test_a_software_upgrade_offered_to_firmware_ota_is_unsupported(tmp_path: Path) -> None:
    h = Harness(Firmware(tmp_path))
    h.upgrader.offer(offer(kind="software"))
    assert h.progress()[-1].failure == "unsupported"


def test_the_version_report_says_firmware_and_software(tmp_path: Path) -> None:
    class Both(Firmware):
        def software_version(self) -> str:
            return "app-7"

    h = Harness(Both(tmp_path))
    h.upgrader.report_version()
    assert h.sent == [ReportVersion("1.0", "app-7")]


@pytest.mark.parametrize("version", ["../../etc/passwd", "a/b", "..", "x" * 500])
def test_a_hostile_version_or_url_never_writes_outside_the_download_dir(tmp_path: Path, version: str) -> None:
    inside = tmp_path / "ota"
    h = Harness(Firmware(inside), deliver=False)
    h.upgrader.offer(offer(version=version, url="http://x/../../../evil"))
    dest, _, _ = h.pending[0]
    assert dest.parent == inside and len(dest.name) < 200
