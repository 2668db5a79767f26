"""The SQLite outbox: what waits for the broker survives a restart and a SIGKILL, in order,
within its limit; a file that is not an outbox is set aside (never deleted) and replaced by a
fresh one; the file is private to its owner."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from thingmodel.protocol.messages import Outgoing
from thingmodel.transport.outbox import OutboxClosed, OutboxError, SqliteOutbox

LOGGER = "thingmodel.transport.outbox"


def report(n: int, size: int = 0) -> Outgoing:
    return Outgoing(f"dev/1/report/{n}", b'{"n": %d}' % n + b" " * size)


def messages(box: SqliteOutbox) -> list[Outgoing]:
    return [message for _, message in box.load()]


def reopened(path: Path, limit: int = 1000) -> list[Outgoing]:
    box = SqliteOutbox(path, limit=limit)
    try:
        assert box.problem is None
        return messages(box)
    finally:
        box.close()


def set_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


# -- durability and order --------------------------------------------------------------------------
def test_messages_come_back_in_order_after_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    sent = [report(n) for n in range(50)] + [Outgoing("dev/1/event", b"", qos=0, retain=True)]
    for message in sent:
        box.add(message)
    box.close()

    again = SqliteOutbox(path)
    assert again.problem is None
    assert len(again) == len(sent)
    loaded = again.load()
    assert [message for _, message in loaded] == sent
    keys = [key for key, _ in loaded]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    again.close()


CHILD = """
import sys
from thingmodel.protocol.messages import Outgoing
from thingmodel.transport.outbox import SqliteOutbox

box = SqliteOutbox(sys.argv[1])
for n in range(200):
    box.add(Outgoing(f"dev/1/report/{n}", b'{"n": %d}' % n))
print("added", flush=True)
sys.stdin.read()  # killed here, the outbox still open
"""


def test_a_process_killed_after_200_adds_leaves_all_200_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "added\n"
        assert os.path.exists(f"{path}-wal")  # never checkpointed: the adds are in the WAL only
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()

    assert reopened(path) == [report(n) for n in range(200)]


def test_removed_messages_stay_removed_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    keys = [box.add(report(n))[0] for n in range(10)]
    box.remove(keys[0])
    box.remove_many([keys[3], keys[4], keys[5]])
    box.remove(10_000)  # never added: nothing happens
    box.remove_many([keys[0], 10_001])  # already removed, never added
    box.remove_many([])
    assert len(box) == 6
    box.close()

    assert reopened(path) == [report(n) for n in (1, 2, 6, 7, 8, 9)]


def test_keys_keep_growing_across_restarts_even_when_the_outbox_was_emptied(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    keys = [box.add(report(n))[0] for n in range(3)]
    box.remove_many(keys)
    box.close()

    box = SqliteOutbox(path)
    assert box.load() == []
    key, _ = box.add(report(3))
    assert key > max(keys)
    box.close()


def test_load_returns_only_what_the_previous_process_left(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    box.add(report(0))
    box.close()

    box = SqliteOutbox(path)
    box.add(report(1))
    assert messages(box) == [report(0)]
    assert len(box) == 2
    box.close()


# -- the limit -------------------------------------------------------------------------------------
def test_past_the_limit_add_drops_the_oldest_and_returns_them(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path, limit=3)
    for n in range(3):
        assert box.add(report(n))[1] == []
    key, trimmed = box.add(report(3))
    assert trimmed == [report(0)]
    assert len(box) == 3
    box.remove(key)
    assert box.add(report(4))[1] == []  # room again
    assert box.add(report(5))[1] == [report(1)]
    box.close()

    assert reopened(path) == [report(2), report(4), report(5)]


def test_a_file_over_the_limit_drops_its_oldest_at_open_and_reports_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path, limit=10)
    for n in range(10):
        box.add(report(n))
    box.close()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        box = SqliteOutbox(path, limit=4)
    assert box.dropped_at_load == [report(n) for n in range(6)]
    assert messages(box) == [report(n) for n in range(6, 10)]
    assert len(box) == 4
    assert any("dropped the 6 oldest" in record.getMessage() for record in caplog.records)
    box.close()

    assert reopened(path, limit=10) == [report(n) for n in range(6, 10)]


def test_a_limit_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SqliteOutbox(tmp_path / "outbox.sqlite3", limit=0)


# -- unreadable files ------------------------------------------------------------------------------
def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def another_schema(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE readings (at REAL, value REAL)")
    db.execute("INSERT INTO readings VALUES (1.0, 2.0)")
    db.commit()
    db.close()


def truncated(path: Path) -> None:
    box = SqliteOutbox(path)
    for n in range(300):
        box.add(report(n, size=200))
    box.close()
    data = path.read_bytes()
    assert len(data) > 40_000
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (garbage, "not a database"),
        (another_schema, "no outbox table (it holds readings)"),
        (truncated, "malformed"),
    ],
    ids=["garbage", "another-schema", "truncated"],
)
def test_an_unreadable_file_is_set_aside_with_its_bytes_and_a_fresh_outbox_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Callable[[Path], None], reason: str
) -> None:
    path = tmp_path / "outbox.sqlite3"
    make(path)
    original = path.read_bytes()

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        box = SqliteOutbox(path)

    [aside] = set_aside(path)
    assert aside.read_bytes() == original
    assert box.problem is not None
    assert reason in box.problem and str(path) in box.problem and str(aside) in box.problem
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == [box.problem]
    assert box.load() == [] and len(box) == 0
    box.add(report(1))
    box.close()
    assert reopened(path) == [report(1)]


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE outbox SET payload = 'text' WHERE key = 2", "row 2: the payload is text"),
        ("UPDATE outbox SET topic = x'74' WHERE key = 2", "row 2: the topic is blob"),
        ("UPDATE outbox SET topic = CAST(x'ff00' AS TEXT) WHERE key = 2", "row 2: the topic is not UTF-8"),
        ("UPDATE outbox SET qos = 'one' WHERE key = 2", "row 2: qos is 'one'"),
        ("UPDATE outbox SET qos = 7 WHERE key = 2", "row 2: qos is 7"),
        ("UPDATE outbox SET retain = 2.5 WHERE key = 2", "row 2: retain is 2.5"),
        ("PRAGMA user_version = 9", "schema version 9"),
        ("CREATE TABLE extra (x)", "unexpected table extra"),
    ],
)
def test_a_row_of_the_wrong_type_or_a_foreign_schema_sets_the_file_aside(
    tmp_path: Path, sql: str, reason: str
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    for n in range(3):
        box.add(report(n))
    box.close()
    db = sqlite3.connect(path)
    db.execute(sql)
    db.commit()
    db.close()

    box = SqliteOutbox(path)
    assert box.problem is not None and reason in box.problem
    assert len(set_aside(path)) == 1
    assert box.load() == []
    box.close()


def test_two_unreadable_files_in_a_row_are_both_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    for _ in range(2):
        garbage(path)
        SqliteOutbox(path).close()
    asides = set_aside(path)
    assert len(asides) == 2
    assert all(aside.read_bytes() == bytes(range(256)) * 40 for aside in asides)


# -- permissions and unusable paths ----------------------------------------------------------------
def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_outbox_and_its_directory_are_private_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / "outbox.sqlite3"
    old = os.umask(0o022)
    try:
        box = SqliteOutbox(path)
        box.add(report(1))
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert mode(f"{path}-wal") == 0o600
    assert mode(path.parent) == 0o700
    box.close()


def test_an_existing_outbox_open_to_others_is_made_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    box.add(report(1))
    box.close()
    os.chmod(path, 0o644)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        box = SqliteOutbox(path)
    assert mode(path) == 0o600
    assert any(str(path) in r.getMessage() and "0644" in r.getMessage() for r in caplog.records)
    assert messages(box) == [report(1)]
    box.close()


def test_a_directory_is_not_an_outbox(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="is a directory"):
        SqliteOutbox(tmp_path)
    with pytest.raises(OSError, match="is a directory"):  # an OSError, for those who catch that
        SqliteOutbox(tmp_path)


def test_a_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutboxError, match="cannot create the directory of the outbox"):
        SqliteOutbox(tmp_path / "file" / "outbox.sqlite3")


def test_an_outbox_already_open_is_refused_until_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = SqliteOutbox(path)
    first.add(report(1))
    with pytest.raises(OutboxError, match="in use"):
        SqliteOutbox(path)
    assert set_aside(path) == []  # a busy file is not mistaken for a broken one
    first.close()
    assert reopened(path) == [report(1)]


# -- misuse ----------------------------------------------------------------------------------------
def test_use_after_close_is_a_clear_error(tmp_path: Path) -> None:
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    box.add(report(1))
    box.close()
    box.close()  # idempotent
    for use in (lambda: box.add(report(2)), lambda: box.remove(1), lambda: box.remove_many([1]), box.load):
        with pytest.raises(OutboxClosed, match=r"outbox .*outbox\.sqlite3 is closed"):
            use()
    assert len(box) == 1
    assert "closed" in repr(box)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (Outgoing("t", "text"), "payload of t must be bytes"),  # type: ignore[arg-type]
        (Outgoing(b"t", b""), "topic must be a str"),  # type: ignore[arg-type]
        (Outgoing("t", b"", qos=3), "qos of t must be 0, 1 or 2"),
        (Outgoing("t", b"", retain=1), "retain of t must be a bool"),  # type: ignore[arg-type]
    ],
)
def test_a_message_of_the_wrong_type_is_refused_and_nothing_is_kept(
    tmp_path: Path, message: Outgoing, reason: str
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    with pytest.raises(ValueError, match=reason):
        box.add(message)
    assert len(box) == 0
    box.close()
    assert reopened(path) == []


# -- threads ---------------------------------------------------------------------------------------
def test_threads_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path, limit=10_000)
    threads, per_thread = 8, 250
    start = threading.Barrier(threads)
    keys: dict[int, list[int]] = {}
    failures: list[BaseException] = []

    def add_all(thread: int) -> None:
        try:
            start.wait()
            keys[thread] = [box.add(Outgoing(f"t/{thread}", b"%d" % n))[0] for n in range(per_thread)]
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=add_all, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert len(box) == threads * per_thread
    every_key = [key for thread_keys in keys.values() for key in thread_keys]
    assert len(set(every_key)) == threads * per_thread
    assert all(thread_keys == sorted(thread_keys) for thread_keys in keys.values())
    box.close()

    loaded = reopened(path, limit=10_000)
    assert len(loaded) == threads * per_thread
    for thread in range(threads):  # each thread's messages, in the order it added them
        mine = [m.payload for m in loaded if m.topic == f"t/{thread}"]
        assert mine == [b"%d" % n for n in range(per_thread)]
