"""IoLoop: one thread at a time leads, user work runs off it, writes go out from the thread that
asks for them. A stand-in for paho's client on a socket pair shows what the loop does to it."""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from thingmodel.transport.loop import Channel, IoLoop
from thingmodel.transport.worker import Worker, WorkerPool


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


@pytest.fixture
def loop() -> Iterator[IoLoop]:
    io = IoLoop("test-io", connectors=1)
    yield io
    io.close()


def attached(io: IoLoop, client: FakeClient) -> Channel:
    client.loop = io
    channel = Channel(client, client.sock)
    io.attach(channel)
    deadline = time.monotonic() + 5
    while io.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert io.connections == 1
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
    assert eventually(lambda: channel.watching_write or not client.out)
    with channel.lock:  # meanwhile a worker writes the rest, and paho says nothing more
        while client.out:
            ours.send(client.out.popleft())
    assert eventually(lambda: not channel.watching_write)
    writes = len(client.writers)
    time.sleep(0.1)
    assert len(client.writers) - writes <= 1  # no turn after turn on a socket that is always writable


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True
