"""Store transactions: what is saved inside becomes durable at the commit, or not at all."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from thingmodel.cloud.aws_shadow import MemoryDocumentStore, SqliteDocumentStore
from thingmodel.cloud.store import MemoryStore, SqliteStore
from thingmodel.protocol.messages import ShadowState


def state(**reported: int) -> ShadowState:
    return ShadowState(desired={}, reported=reported, version=1)


class Boom(Exception):
    pass


def test_saves_in_a_transaction_reach_other_readers_only_at_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "shadows.sqlite3"
    store, reader = SqliteStore(path), SqliteStore(path)  # the reader stands for another process
    with store.transaction():
        store.save("dev1", "s", state(a=1))
        store.save("dev2", "s", state(a=2))
        assert store.load("dev1") == {"s": state(a=1)}  # the writer sees its own writes
        assert reader.devices() == []
    assert reader.devices() == ["dev1", "dev2"]
    store.close()
    assert SqliteStore(path).load("dev2") == {"s": state(a=2)}


def test_an_exception_in_a_transaction_undoes_its_saves_and_propagates(tmp_path: Path) -> None:
    path = tmp_path / "shadows.sqlite3"
    store = SqliteStore(path)
    store.save("dev1", "s", state(a=1))
    with pytest.raises(Boom), store.transaction():
        store.save("dev1", "s", state(a=99))
        store.save("dev2", "s", state(a=2))
        raise Boom
    assert store.load("dev1") == {"s": state(a=1)}
    assert store.devices() == ["dev1"]
    store.close()
    assert SqliteStore(path).devices() == ["dev1"]


def test_a_nested_transaction_that_raises_undoes_only_its_own_saves(tmp_path: Path) -> None:
    path = tmp_path / "shadows.sqlite3"
    store, reader = SqliteStore(path), SqliteStore(path)
    with store.transaction():
        store.save("outer", "s", state(a=1))
        with pytest.raises(Boom), store.transaction():
            store.save("inner", "s", state(a=2))
            raise Boom
        with store.transaction():
            store.save("kept", "s", state(a=3))
        assert reader.devices() == []  # an inner commit waits for the outer one
    assert reader.devices() == ["kept", "outer"]


def test_a_save_from_another_thread_never_waits_for_an_open_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "shadows.sqlite3")
    saved = threading.Event()

    def save_elsewhere() -> None:
        store.save("app", "s", state(a=1))
        saved.set()

    elsewhere = threading.Thread(target=save_elsewhere)
    with store.transaction():
        elsewhere.start()
        assert saved.wait(5), "a save on another thread blocked on the open transaction"
    elsewhere.join()
    assert SqliteStore(tmp_path / "shadows.sqlite3").devices() == ["app"]


def test_the_memory_store_transaction_is_a_no_op() -> None:
    store = MemoryStore()
    with pytest.raises(Boom), store.transaction():
        store.save("dev1", "s", state(a=1))
        with store.transaction():
            store.save("dev2", "s", state(a=2))
        raise Boom
    assert store.devices() == ["dev1", "dev2"]  # nothing to undo: every save counted at once


def test_aws_documents_saved_in_a_transaction_survive_a_reopen_and_a_raise_undoes_them(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "aws.sqlite3")
    store, reader = SqliteDocumentStore(path), SqliteDocumentStore(path)
    with store.transaction():
        store.save("dev1/", {"version": 1})
        assert reader.names() == []
    with pytest.raises(Boom), store.transaction():
        store.save("dev1/", {"version": 2})
        store.save("dev2/", {"version": 1})
        raise Boom
    store.close()
    reopened = SqliteDocumentStore(path)
    assert reopened.names() == ["dev1/"]
    assert reopened.load("dev1/") == {"version": 1}


def test_the_aws_memory_document_store_transaction_is_a_no_op() -> None:
    store = MemoryDocumentStore()
    with pytest.raises(Boom), store.transaction():
        store.save("dev1/", {"version": 1})
        raise Boom
    assert store.load("dev1/") == {"version": 1}


# -- the SqliteStore's cache and batched writes ------------------------------------------------------
def test_a_commit_by_another_connection_is_seen_by_a_cached_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    a, b = SqliteStore(path), SqliteStore(path)
    a.save("d", "s", state(x=1))
    assert a.load("d") == {"s": state(x=1)} and b.load("d") == {"s": state(x=1)}
    b.save("d", "s", state(x=2))
    assert a.load("d") == {"s": state(x=2)}
    with a.transaction():
        a.save("d", "s", state(x=3))
    assert b.load("d") == {"s": state(x=3)}


def test_a_raising_nested_transaction_undoes_its_saves_and_deletes_in_the_cache_too(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.save("d", "s", state(x=1))
    with store.transaction():
        store.save("d", "s", state(x=2))
        with pytest.raises(Boom), store.transaction():
            store.save("d", "s", state(x=3))
            store.save("e", "s", state(y=1))
            store.delete("d", "s")
            assert store.load("d") == {} and store.devices() == ["e"]
            raise Boom
        assert store.load("d") == {"s": state(x=2)} and store.load("e") == {}
        assert store.devices() == ["d"]
    reopened = SqliteStore(tmp_path / "s.sqlite3")
    assert reopened.load("d") == {"s": state(x=2)} and reopened.devices() == ["d"]


def test_a_failed_commit_raises_oserror_and_leaves_the_cache_as_the_file_is(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    store._db.execute("PRAGMA busy_timeout=100")
    store.save("d", "s", state(x=1))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock: the commit cannot happen
    with pytest.raises(OSError), store.transaction():
        store.save("d", "s", state(x=2))
        store.save("e", "s", state(x=2))
    other.execute("ROLLBACK")
    assert store.load("d") == {"s": state(x=1)} and store.load("e") == {} and store.devices() == ["d"]
    with store.transaction():
        store.save("e", "s", state(x=5))
    assert SqliteStore(path).devices() == ["d", "e"]


def test_more_devices_than_the_cache_holds_are_all_stored_and_loaded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.cached_devices = 10
    with store.transaction():
        for i in range(50):
            store.save(f"d{i}", "s", state(i=i))
    assert all(store.load(f"d{i}") == {"s": state(i=i)} for i in range(50))
    assert store.devices() == sorted(f"d{i}" for i in range(50))


def test_values_orjson_cannot_encode_are_stored_as_the_standard_library_writes_them(tmp_path: Path) -> None:
    odd = ShadowState({}, {"big": 2**70, "u": "é"}, 1)
    SqliteStore(tmp_path / "s.sqlite3").save("d", "s", odd)
    assert SqliteStore(tmp_path / "s.sqlite3").load("d") == {"s": odd}
