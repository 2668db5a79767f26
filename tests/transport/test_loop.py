"""IoLoop: one thread at a time leads, user work runs off it, writes go out from the thread that
asks for them. A stand-in for paho's client on a socket pair shows what the loop does to it."""

from __future__ import annotations

import collections
import functools
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from thingmodel.transport import loop as loop_module
from thingmodel.transport.loop import Channel, IoLoop
from thingmodel.transport.worker import Worker, WorkerPool

from ..integration.helpers import eventually


class FakeClient:
    """What the loop asks of a paho client: read, write, and whether there is something to write."""

    def __init__(self, sock: socket.socket, on_bytes: Callable[[bytes], None] = lambda data: None) -> None:
        self.sock = sock
        self.on_bytes = on_bytes
        self.out: collections.deque[bytes] = collections.deque()
        self.writers: list[str] = []
        self.in_use = 0  # threads inside read or write right now
        self.most_in_use = 0
        self.read_off_the_loop = 0
        self.loop: IoLoop | None = None
        self.per_write: int | None = None  # how many queued items one loop_write sends (None: all)

    def _enter(self) -> None:
        self.in_use += 1
        self.most_in_use = max(self.most_in_use, self.in_use)

    def want_write(self) -> bool:
        return bool(self.out)

    def loop_write(self) -> int:
        self._enter()
        try:
            self.writers.append(threading.current_thread().name)
            sent = 0
            while self.out and (self.per_write is None or sent < self.per_write):
                self.sock.send(self.out.popleft())
                sent += 1
        finally:
            self.in_use -= 1
        return 0

    def loop_read(self) -> int:
        self._enter()
        try:
            assert self.loop is not None
            if not self.loop.in_loop():
                self.read_off_the_loop += 1
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return 0
            self.on_bytes(data)
        finally:
            self.in_use -= 1
        return 0

    def publish(self, data: bytes) -> None:
        """As paho does: queue the bytes, then tell the loop it wants to write."""
        self.out.append(data)
        assert self.loop is not None
        self.loop.want_write(self.sock, True)


@pytest.fixture(params=["default", "poll"])
def loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[IoLoop]:
    """The loop on this system's selector, and on poll() as where there is no epoll (the
    standby is then rung at every step away)."""
    if request.param == "poll":
        monkeypatch.setattr(loop_module.selectors, "DefaultSelector", selectors.PollSelector)
    io = IoLoop("test-io", connectors=1)
    monkeypatch.undo()
    yield io
    io.close()


def attached(io: IoLoop, client: FakeClient) -> Channel:
    client.loop = io
    channel = Channel(client, client.sock)
    before = io.connections
    io.attach(channel)
    eventually(lambda: io.connections == before + 1, what="the loop to watch the new connection")
    return channel


def pair() -> tuple[socket.socket, socket.socket]:
    ours, far = socket.socketpair()
    ours.setblocking(False)
    far.settimeout(5)
    return ours, far


def test_a_write_asked_off_the_loop_goes_out_on_the_asking_thread(loop: IoLoop) -> None:
    ours, far = pair()
    client = FakeClient(ours)
    attached(loop, client)
    publisher = threading.Thread(target=client.publish, args=(b"report",), name="publisher")
    publisher.start()
    publisher.join()
    assert far.recv(100) == b"report"
    assert client.writers == ["publisher"]  # no loop thread had to wake up for it


def test_a_write_asked_while_the_connection_is_in_use_goes_out_from_the_loop(loop: IoLoop) -> None:
    ours, far = pair()
    client = FakeClient(ours)
    channel = attached(loop, client)
    with channel.lock:  # as if the loop were reading this connection just then
        publisher = threading.Thread(target=client.publish, args=(b"answer",), name="publisher")
        publisher.start()
        publisher.join()
        assert client.writers == []  # not written beside the read
    assert far.recv(100) == b"answer"
    assert len(client.writers) == 1 and client.writers[0].startswith("test-io")


def test_one_thread_leads_at_a_time_while_the_reading_thread_runs_the_work(loop: IoLoop) -> None:
    pool = WorkerPool("test-pool", threads=2)
    worker = Worker("device", pool=pool)
    worker.start()
    ran: list[int] = []
    done = threading.Event()
    ran_on_the_loop = []

    def job(n: int) -> None:
        ran_on_the_loop.append(loop.in_loop())
        ran.append(n)
        done.set()

    def on_bytes(data: bytes) -> None:
        for n in data:
            worker.submit(lambda n=n: job(n))  # type: ignore[misc]

    ours, far = pair()
    client = FakeClient(ours, on_bytes=on_bytes)
    attached(loop, client)
    for i in range(2000):  # each byte makes the worker ready: each read hands the loop over
        done.clear()
        far.send(bytes([i % 256]))
        assert done.wait(5), f"job {i} never ran"
    worker.stop()
    assert ran == [i % 256 for i in range(2000)]
    assert client.most_in_use == 1  # never two threads in the connection at once
    assert client.read_off_the_loop == 0  # every read by the thread leading the loop then
    assert not any(ran_on_the_loop)  # and no job on it


def test_a_closed_loop_ends_both_of_its_threads() -> None:
    io = IoLoop("test-io-close", connectors=1)
    io.call_soon(lambda: None)
    deadline = time.monotonic() + 5
    while sum(t.name.startswith("test-io-close-") for t in threading.enumerate()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    io.close()
    assert not [t for t in threading.enumerate() if t.name in ("test-io-close-1", "test-io-close-2")]


def test_the_loop_stops_watching_for_room_once_another_thread_wrote_the_rest(loop: IoLoop) -> None:
    ours, far = pair()
    client = FakeClient(ours)
    client.per_write = 1  # as a socket with room for one packet at a time
    channel = attached(loop, client)
    with channel.lock:  # the loop has the connection: the publisher leaves the write to it
        client.out.extend([b"a", b"b", b"c"])
        loop.want_write(ours, True)
    assert far.recv(1) == b"a"
    eventually(lambda: channel.watching_write or not client.out, what="the loop to watch for room, or write")
    with channel.lock:  # meanwhile a worker writes the rest, and paho says nothing more
        while client.out:
            ours.send(client.out.popleft())
    eventually(lambda: not channel.watching_write, what="the loop to stop watching for room")
    writes = len(client.writers)
    time.sleep(0.1)
    assert len(client.writers) - writes <= 1  # no turn after turn on a socket that is always writable


def blocking_job_on_the_reading_thread(
    io: IoLoop,
) -> tuple[FakeClient, socket.socket, threading.Event, list[str]]:
    """A connection whose bytes start a job that runs until ``release`` is set; the job's thread
    name is put in the list once it runs."""
    pool = WorkerPool("test-pool", threads=2)
    worker = Worker("device", pool=pool)
    worker.start()
    release = threading.Event()
    running: list[str] = []

    def job() -> None:
        running.append(threading.current_thread().name)
        release.wait(10)

    def on_bytes(data: bytes) -> None:
        if data:  # b"": the far end closed
            worker.submit(job)

    ours, far = pair()
    client = FakeClient(ours, on_bytes=on_bytes)
    attached(io, client)
    return client, far, release, running


def test_while_user_code_runs_on_the_reading_thread_another_thread_serves_the_io(loop: IoLoop) -> None:
    _, far, release, running = blocking_job_on_the_reading_thread(loop)
    readers: list[str] = []
    got = threading.Event()
    ours_b, far_b = pair()

    def read_b(data: bytes) -> None:
        readers.append(threading.current_thread().name)
        got.set()

    other = FakeClient(ours_b, on_bytes=read_b)
    attached(loop, other)
    try:
        far.send(b"x")
        eventually(lambda: bool(running), what="the job to start")
        far_b.send(b"y")
        assert got.wait(5), "bytes on another connection waited for the user code"
        assert readers and readers[0] != running[0]
        assert other.read_off_the_loop == 0
    finally:
        release.set()


def test_a_timer_asked_before_the_user_code_runs_on_time_beside_it(loop: IoLoop) -> None:
    _, far, release, running = blocking_job_on_the_reading_thread(loop)
    fired = threading.Event()
    loop.call_later(0.2, fired.set)
    time.sleep(0.05)  # the loop has the timer before the user code starts
    try:
        far.send(b"x")
        eventually(lambda: bool(running), what="the job to start")
        assert fired.wait(3), "the timer waited for the user code"
        assert not release.is_set()
    finally:
        release.set()


def test_a_timer_asked_by_the_user_code_runs_while_it_still_runs(loop: IoLoop) -> None:
    pool = WorkerPool("test-pool", threads=2)
    worker = Worker("device", pool=pool)
    worker.start()
    fired = threading.Event()
    release = threading.Event()

    def job() -> None:
        loop.call_later(0.05, fired.set)
        release.wait(10)

    def on_bytes(data: bytes) -> None:
        if data:  # b"": the far end closed
            worker.submit(job)

    ours, far = pair()
    attached(loop, FakeClient(ours, on_bytes=on_bytes))
    try:
        far.send(b"x")
        assert fired.wait(3), "the timer waited for the user code that asked for it"
    finally:
        release.set()


def test_once_the_user_code_ends_its_thread_stands_by_and_the_next_message_is_served(loop: IoLoop) -> None:
    _, far, release, running = blocking_job_on_the_reading_thread(loop)
    far.send(b"x")
    eventually(lambda: len(running) == 1, what="the first job to start")
    ours_b, far_b = pair()
    got: list[bytes] = []
    other = FakeClient(ours_b, on_bytes=got.append)
    attached(loop, other)  # a call while the user code runs: the other thread takes the loop
    release.set()
    far.send(b"x")
    eventually(lambda: len(running) == 2, what="the second job to start")
    release.set()
    far_b.send(b"y")
    eventually(lambda: got == [b"y"], what="the other connection's bytes")
    assert other.read_off_the_loop == 0


def test_while_timers_keep_falling_due_every_handed_over_message_reaches_its_job(loop: IoLoop) -> None:
    # Every read hands the loop over while timers keep falling due on the loop: no hand-over
    # may be lost, nor a timer run twice or by the thread that left the loop.
    ticks = [0]
    stop = threading.Event()

    def tick() -> None:
        ticks[0] += 1
        if not stop.is_set():
            loop.call_later(0.002, tick)

    loop.call_soon(tick)
    pool = WorkerPool("test-pool", threads=2)
    worker = Worker("device", pool=pool)
    worker.start()
    ran: list[int] = []
    done = threading.Event()

    def run(n: int) -> None:
        ran.append(n)
        done.set()

    def on_bytes(data: bytes) -> None:
        for n in data:
            worker.submit(functools.partial(run, n))

    ours, far = pair()
    attached(loop, FakeClient(ours, on_bytes=on_bytes))
    try:
        for i in range(500):
            done.clear()
            far.send(bytes([i % 256]))
            assert done.wait(5), f"job {i} never ran"
    finally:
        stop.set()
        worker.stop()
    assert ran == [i % 256 for i in range(500)]
    assert ticks[0] > 0  # and the timers went on falling due meanwhile


def test_a_job_that_ends_before_the_loop_has_more_to_do_wakes_nobody(loop: IoLoop) -> None:
    if not isinstance(loop._selector, selectors.EpollSelector):
        pytest.skip("without epoll, stepping away rings the standby each time")
    pool = WorkerPool("test-pool", threads=2)
    worker = Worker("device", pool=pool)
    worker.start()
    job_threads: list[str] = []
    read_threads: list[str] = []
    done = threading.Event()

    def job() -> None:
        job_threads.append(threading.current_thread().name)
        done.set()

    def on_bytes(data: bytes) -> None:
        read_threads.append(threading.current_thread().name)
        worker.submit(job)

    ours, far = pair()
    attached(loop, FakeClient(ours, on_bytes=on_bytes))
    for i in range(200):
        done.clear()
        far.send(b"x")
        assert done.wait(5), f"job {i} never ran"
        time.sleep(0.001)
    worker.stop()
    assert len(set(read_threads)) == 1  # the standby never had to take the loop over
    assert set(job_threads) == set(read_threads)


def test_a_long_job_that_keeps_publishing_gets_its_own_connection_read_meanwhile(loop: IoLoop) -> None:
    pool = WorkerPool("test-pool", threads=2)
    worker = Worker("device", pool=pool)
    worker.start()
    release = threading.Event()
    acks: list[bytes] = []
    ours, far = pair()
    client = FakeClient(
        ours, on_bytes=lambda data: acks.append(data) if data != b"go" else worker.submit(job)
    )

    def job() -> None:
        for n in range(8):  # as a job publishing at QoS 1, each acknowledged by the broker
            client.publish(bytes([n]))
        release.wait(30)

    attached(loop, client)
    try:
        far.send(b"go")
        sent = b""
        while len(sent) < 8:
            sent += far.recv(16)
        far.send(b"ack")
        eventually(lambda: acks == [b"ack"], 5, "the acknowledgement read while the job still runs")
        assert not release.is_set()
    finally:
        release.set()
        worker.stop()
