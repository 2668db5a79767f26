"""WorkerPool threads come with work and end after lingering idle; one stays for what is due."""

from __future__ import annotations

import threading
import time

import pytest

from thingmodel.transport import worker as worker_module
from thingmodel.transport.loop import IoLoop
from thingmodel.transport.worker import Worker, WorkerPool

from ..integration.helpers import eventually


@pytest.fixture(autouse=True)
def short_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "LINGER", 0.05)


def test_a_pool_thread_without_work_ends_after_lingering() -> None:
    pool = WorkerPool("test-linger")
    worker = Worker("device", pool=pool)
    worker.start()
    ran = threading.Event()
    worker.submit(ran.set)
    assert ran.wait(5)
    eventually(lambda: pool.threads == 0, what="the pool's threads to end")
    assert not [t for t in threading.enumerate() if t.name.startswith("test-linger-")]
    worker.submit(ran.clear)  # work after that starts a thread again
    eventually(lambda: not ran.is_set(), what="the new work to run")


def test_the_last_pool_thread_stays_for_a_scheduled_turn() -> None:
    pool = WorkerPool("test-stay")
    turns: list[float] = []
    worker = Worker(
        "device", pool=pool, idle_seconds=lambda: 0.2, run_pending=lambda: turns.append(time.monotonic())
    )
    worker.start()
    # a turn every 0.2 s, four times the linger
    eventually(lambda: len(turns) >= 3, what="three scheduled turns")
    assert pool.threads == 1
    worker.stop()
    eventually(lambda: pool.threads == 0, what="the pool's threads to end")


def test_connector_threads_end_once_no_connect_waits() -> None:
    loop = IoLoop("test-connectors", connectors=2)
    done: list[str] = []
    for name in ("a", "b", "c"):
        loop.run_blocking(lambda name=name: done.append(name))  # type: ignore[misc]
    eventually(lambda: sorted(done) == ["a", "b", "c"], what="the three connects")
    eventually(
        lambda: not [t for t in threading.enumerate() if t.name == "test-connectors-connect"],
        what="the connector threads to end",
    )
    loop.close()
