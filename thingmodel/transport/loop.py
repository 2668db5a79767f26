"""``IoLoop``: one thread that does the socket I/O of many MQTT connections.

paho's own loop (``loop_start``) costs a thread per connection and waits in ``select()``, which
fails for descriptors above 1023: in a process with many open files a connection (or a
reconnection) past that line never happens. Here one thread waits on the operating system's
selector (epoll on Linux, which has no such limit) for every connection's socket and drives paho
through its external-loop API: ``loop_read`` when a socket is readable, ``loop_write`` while paho
has bytes to send (paho says so through ``on_socket_register_write``), ``loop_misc`` on a timer
for keep-alive. Blocking connects (DNS, TCP, the TLS handshake) run on a few connector threads,
never on the loop. User code never runs here: what the loop reads goes to the callbacks of
:class:`~thingmodel.transport.mqtt.MqttTransport`, which hand it to workers.

Writes: what a worker publishes is written on the worker's own thread, at once (the socket is
non-blocking), unless the loop is using that connection just then; the loop writes what is left.
Each connection's lock (:class:`Channel`) keeps its reads and writes one at a time.

Leader and standby: two threads take turns running the loop. When what the loop read made a
device's worker ready (a desired value, a command), the thread that read it steps away from the
loop and runs that worker's jobs itself: the message reaches the user's setter without waiting
for another thread to wake. The standby thread sleeps on a selector of its own (:class:`_Lookout`)
that holds the loop's selector, watched only while the leader is away: the moment the loop has
something to do (bytes on another connection, a call from another thread, a timer due, at most
:data:`NAP` s late) the standby wakes and takes the loop over, so user code never holds up the
I/O; a job that ends first takes the watch back and goes on leading, and nobody was woken. The
job's own connection is left out meanwhile (see :meth:`IoLoop._step_away`) until the job has
written a few messages. When no standby is free (it is running user code itself), the work goes
to the worker pool's threads.

The process shares one loop (:meth:`IoLoop.shared`); a component that wants its traffic apart
(the local cloud's own connection) makes its own.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import math
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from .worker import leading

log = logging.getLogger("thingmodel.transport.loop")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE

#: seconds the standby sleeps at least between looks at the loop's timers (a standby of a loop
#: with many connections would otherwise wake for each keep-alive deadline the leader meets)
NAP = 0.05
#: connections a turn may have read for the leader to step away without the standby watching them
_UNWATCHED = 4
#: messages a job may write on its own unwatched connection before it is watched again (the
#: broker's acknowledgements free the in-flight window a long, talkative job fills)
_WRITES_UNWATCHED = 4


class Timer:
    """A call the loop makes later; :meth:`cancel` before it is due and it is not made."""

    __slots__ = ("call", "cancelled", "when")

    def __init__(self, when: float, call: Callable[[], object]) -> None:
        self.when = when
        self.call = call
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Channel:
    """One paho client as the loop sees it: its socket, and what to call when it is readable or
    writable. Made by the transport for each connection (paho makes a new socket each time).

    ``lock`` is held around every paho read, write and keep-alive step of the client, whichever
    thread makes it: paho's packet state is not made for two threads at once, nor is a TLS
    connection."""

    __slots__ = ("_pending", "client", "fd", "lock", "sock", "watching_write", "writes_unwatched")

    def __init__(self, client: Any, sock: Any) -> None:
        self.client = client
        self.sock = sock
        self.fd: int = sock.fileno()
        self._pending: Callable[[], int] | None = getattr(sock, "pending", None)
        self.lock = threading.RLock()  # re-entered when paho writes from within a read
        self.watching_write = False  # the selector watches for room to write
        self.writes_unwatched = -1  # writes while the loop does not watch it (-1: it does)

    def pending(self) -> bool:
        """Whether bytes are already read (by TLS or by our buffered socket) and not yet handled:
        the selector will not say so."""
        pending = self._pending
        return bool(pending()) if pending is not None else False


class IoLoop:
    """The loop thread, its timers, and the connector threads; see the module docstring."""

    _shared: IoLoop | None = None
    _shared_lock = threading.Lock()

    def __init__(self, name: str = "thingmodel-io", *, connectors: int = 8) -> None:
        self.name = name
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, _READ, None)
        self._calls: collections.deque[Callable[[], object]] = collections.deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._channels: dict[int, Channel] = {}
        self._watching = 0  # channels the selector watches for room to write
        self._ready: list[Channel] = []  # channels with bytes already read and not handled
        self._asleep = False
        self._closed = False
        self._thread: threading.Thread | None = None  # the one running the loop now
        self._ident: int | None = None  # its ident (in_loop is asked at every write)
        self._standby: threading.Thread | None = None  # the one waiting to take it over
        self._away = False  # the leader stepped away to run user code: the standby may take over
        self._standby_until = math.inf  # when the standby looks at the timers next
        self._lookout = _Lookout(self._selector)  # what the standby sleeps on
        # the connections a leader that stepped away read last: not watched meanwhile (see
        # _step_away); the raw epoll under the selector, to switch their interest off
        self._unwatched: list[Channel] = []
        self._epoll: Any = getattr(self._selector, "_selector", None) if self._lookout.lazy else None
        self._threads: list[threading.Thread] = []
        self._lead = threading.Lock()  # guards _thread, _standby and _away
        self._start_lock = threading.Lock()
        # connects wait here for a connector thread; the threads end when none is left
        self._connects: collections.deque[Callable[[], object]] = collections.deque()
        self._connecting = 0  # connector threads running
        self._max_connecting = connectors
        self._connect_lock = threading.Lock()

    @classmethod
    def shared(cls) -> IoLoop:
        """The process's loop (made on first use)."""
        with cls._shared_lock:
            if cls._shared is None or cls._shared._closed:
                cls._shared = cls()
            return cls._shared

    def __repr__(self) -> str:
        return f"<IoLoop {self.name} {len(self._channels)} connections>"

    @property
    def connections(self) -> int:
        """The sockets the loop watches now."""
        return len(self._channels)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def in_loop(self) -> bool:
        """Whether the caller is the loop thread."""
        return threading.get_ident() == self._ident

    # -- scheduling (any thread) ---------------------------------------------------------------
    def call_soon(self, call: Callable[[], object]) -> None:
        """Run ``call`` on the loop thread, after the calls already asked for."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        self._ensure_started()
        self._calls.append(call)
        # the loop checks _calls after it sets _asleep, and a leader stepping away after it sets
        # _away: no wake-up is missed
        if self._asleep or self._away:
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_w.send(b"\0")

    def call_later(self, delay: float, call: Callable[[], object]) -> Timer:
        """Run ``call`` on the loop thread in ``delay`` seconds (unless cancelled)."""
        timer = Timer(time.monotonic() + max(delay, 0.0), call)
        if self.in_loop():
            heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        else:
            self.call_soon(lambda: heapq.heappush(self._timers, (timer.when, next(self._seq), timer)))
        return timer

    def run_blocking(self, call: Callable[[], object]) -> None:
        """Run ``call`` on a connector thread (for the blocking part of a connect)."""
        if self._closed:
            return
        with self._connect_lock:
            self._connects.append(_logged(call, "a connect"))
            if self._connecting >= self._max_connecting:
                return
            self._connecting += 1
        threading.Thread(target=self._connect_all, name=f"{self.name}-connect", daemon=True).start()

    def _connect_all(self) -> None:
        while True:
            with self._connect_lock:
                if not self._connects or self._closed:
                    self._connecting -= 1
                    return
                call = self._connects.popleft()
            call()

    # -- connections (loop thread; other threads go through call_soon) -------------------------
    def attach(self, channel: Channel) -> None:
        """Watch ``channel``'s socket (reading, and writing while its client wants to)."""
        if not self.in_loop():
            self.call_soon(lambda: self.attach(channel))
            return
        old = self._channels.get(channel.fd)
        if old is not None:  # the descriptor was closed and reused without a detach
            self._forget(old)
        self._channels[channel.fd] = channel
        watch = channel.client.want_write()
        try:
            self._selector.register(channel.fd, _READ | (_WRITE if watch else 0), channel)
        except (ValueError, OSError) as exc:  # closed meanwhile
            log.debug("%s: socket %d gone before it was watched: %s", self.name, channel.fd, exc)
            self._channels.pop(channel.fd, None)
            return
        self._watch(channel, watch)
        with channel.lock:
            pending = channel.pending()
        if pending:
            self._ready.append(channel)

    def detach(self, sock: Any) -> None:
        """Stop watching ``sock`` (paho is closing it). Safe from any thread, and for a socket
        whose descriptor number a newer one already has."""
        try:
            fd = sock.fileno()
        except (OSError, ValueError):
            fd = -1
        if self.in_loop():
            self._detach(sock, fd)
        else:
            self.call_soon(lambda: self._detach(sock, fd))

    def _detach(self, sock: Any, fd: int) -> None:
        for channel in [self._channels.get(fd)] if fd >= 0 else list(self._channels.values()):
            if channel is not None and channel.sock is sock:
                self._forget(channel)

    def _forget(self, channel: Channel) -> None:
        self._channels.pop(channel.fd, None)
        self._watch(channel, False)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(channel.fd)

    def _watch(self, channel: Channel, watch: bool) -> None:
        """Note whether the selector watches ``channel`` for room to write (loop thread)."""
        if watch != channel.watching_write:
            channel.watching_write = watch
            self._watching += 1 if watch else -1

    def want_write(self, sock: Any, wanted: bool) -> None:
        """paho has bytes to send on ``sock`` (or has sent them all). Off the loop (a device's
        worker publishing) they are written at once on the calling thread, unless the loop is
        using the connection just then: no thread is woken to send a message."""
        if self.in_loop():
            self._interest(sock, wanted)
            return
        if not wanted and not self._watching:
            return  # paho wrote all it had (as after every write here) and nothing is watched
        channel = self._channel_of(sock)
        if wanted:
            if channel is not None and self._write_here(channel):
                return
        elif channel is None or not channel.watching_write:
            return  # nothing to stop watching (a writer that left bytes behind said so itself)
        self.call_soon(lambda: self._interest(sock, wanted))

    def _channel_of(self, sock: Any) -> Channel | None:
        try:
            fd = sock.fileno()
        except (OSError, ValueError):
            return None
        channel = self._channels.get(fd)
        return channel if channel is not None and channel.sock is sock else None

    def _write_here(self, channel: Channel) -> bool:
        """Write what paho queued, on the calling thread; True when it all went (else the loop
        takes over: it is using the connection, or the socket had no room)."""
        if not channel.lock.acquire(blocking=False):
            return False
        client = channel.client
        try:
            client.loop_write()  # paho handles its own errors: a lost connection closes the socket
        except Exception:
            log.exception("%s: write on socket %d failed", self.name, channel.fd)
            return False
        finally:
            channel.lock.release()
        if channel.writes_unwatched >= 0:
            channel.writes_unwatched += 1
            if channel.writes_unwatched >= _WRITES_UNWATCHED:
                with self._lead:
                    if channel in self._unwatched:
                        self._watch_again(channel)
        return not client.want_write()

    def _interest(self, sock: Any, wanted: bool) -> None:
        channel = self._channel_of(sock)
        if channel is None:
            return  # not watched yet: attach() reads want_write() itself
        client = channel.client
        if wanted and client.want_write():
            # The socket is almost always writable: write now, and watch for room only if
            # something is left (saves a turn of the selector and two epoll_ctl calls).
            with channel.lock:
                self._step(channel, "write", client.loop_write)
            if self._channels.get(channel.fd) is not channel:
                return
        # paho tells us what it wanted when it asked; what it wants now is the truth
        watch = client.want_write()
        if watch != channel.watching_write:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.modify(channel.fd, _READ | (_WRITE if watch else 0), channel)
                self._watch(channel, watch)

    # -- the loop ------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                first = threading.Thread(target=self._serve, name=f"{self.name}-1", daemon=True)
                second = threading.Thread(target=self._serve, name=f"{self.name}-2", daemon=True)
                self._threads = [first, second]
                self._thread = first
                first.start()
                second.start()

    def close(self) -> None:
        """End the loop thread (the connections it still watches are left as they are)."""
        if self._closed:
            return
        self.call_soon(lambda: None)
        self._closed = True
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")
        self._lookout.ring()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5)
        if not any(thread.is_alive() for thread in self._threads):
            self._lookout.close()
        with self._connect_lock:
            self._connects.clear()

    # -- leader and standby --------------------------------------------------------------------
    def _serve(self) -> None:
        """A loop thread's life: wait to lead, lead until the loop is taken over while this
        thread runs user code, then stand by."""
        while not self._closed:
            if not self._wait_to_lead():
                return
            self._run()

    def _wait_to_lead(self) -> bool:
        """Return once this thread runs the loop; False when it should end (the loop closed, or
        another thread stands by already)."""
        me = threading.current_thread()
        with self._lead:
            if self._thread is me:
                return True
            if self._standby is not None or self._closed:
                return False
            self._standby = me
        while True:
            now = time.monotonic()
            self._standby_until = self._next_look(now)
            self._lookout.wait(None if self._standby_until == math.inf else self._standby_until - now)
            with self._lead:
                if self.closed:
                    return False
                if self._away:  # the leader still runs user code: the loop is this thread's now
                    self._away = False
                    self._standby = None
                    self._thread = me
                    self._lookout.disarm()
                    self._watch_again()
                    return True
            # the leader is back, or nothing was due: stand by still

    def _next_look(self, now: float) -> float:
        """When the standby looks at the loop's timers next: when the first is due, at least
        NAP s from ``now`` (inf: there are none)."""
        try:
            when = self._timers[0][0]
        except IndexError:
            return math.inf
        return max(when, now + NAP)

    def _step_away(self, read: list[Channel]) -> bool:
        """Leave the loop to the standby while this thread runs user code; False when none
        stands by. The connections just ``read`` are not watched meanwhile: what comes on them
        next (the broker's acknowledgement of what the job publishes) is for the job's own
        device, whose next message waits for the job anyway; waking the standby for it would
        have it fight the job's thread for the interpreter just as the job's answer goes out."""
        with self._lead:
            if self._standby is None:
                return False
            self._away = True
            self._ident = None
            if len(read) <= _UNWATCHED and self._epoll is not None:
                for channel in read:
                    with contextlib.suppress(OSError, ValueError):
                        self._epoll.modify(channel.fd, 0)
                        self._unwatched.append(channel)
                        channel.writes_unwatched = 0
            self._lookout.arm()
        # asked meanwhile, read and not handled, or a timer due before the standby looks: now
        if self._calls or self._ready or (self._timers and self._timers[0][0] < self._standby_until):
            self._lookout.ring()
        return True

    def _come_back(self) -> bool:
        """After user code: True when this thread still leads (the standby did not take over)."""
        with self._lead:
            if not self._away or self._closed:
                return False
            self._away = False
            self._ident = threading.get_ident()
            self._lookout.disarm()
            self._watch_again()
        return True

    def _watch_again(self, only: Channel | None = None) -> None:
        """Watch the connections _step_away left unwatched (``only``: that one); the caller
        holds _lead."""
        for channel in self._unwatched if only is None else [only]:
            channel.writes_unwatched = -1
            if self._channels.get(channel.fd) is channel:
                events = select.EPOLLIN | (select.EPOLLOUT if channel.watching_write else 0)
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.modify(channel.fd, events)
        if only is not None:
            self._unwatched.remove(only)
            return
        self._unwatched.clear()

    def _run(self) -> None:
        """Run the loop until the standby takes it over while this thread runs user code (or it
        closes)."""
        self._ident = threading.get_ident()
        leading.on = True
        try:
            while not self._closed:
                if self._turn():
                    return
        finally:
            leading.on = False
            leading.deferred.clear()

    def _turn(self) -> bool:
        """One turn of the loop; True when the loop was taken over while this thread ran user
        work."""
        timeout = self._timeout(bool(self._ready))
        self._asleep = timeout != 0
        if self._asleep and self._calls:
            self._asleep, timeout = False, 0
        try:
            events = self._selector.select(timeout)
        except OSError as exc:  # EINTR is retried by Python; anything else is a bug of ours
            log.error("%s: select failed: %s", self.name, exc)
            events = []
        self._asleep = False
        self._run_calls()
        ready, self._ready = self._ready, []
        for key, mask in events:
            watched: Channel | None = key.data
            if watched is None:
                with contextlib.suppress(BlockingIOError, OSError):
                    self._wake_r.recv(4096)
                continue
            if mask & _READ:
                self._read(watched)
            if mask & _WRITE and self._channels.get(watched.fd) is watched:
                # write, then watch for room only while something is left: a thread that wrote
                # the rest meanwhile may have left nobody to say so (paho tells only once)
                self._interest(watched.sock, True)
        for channel in ready:
            self._read(channel)
        pools = leading.deferred
        if not pools:
            self._run_timers()
            return False
        leading.deferred = []
        read = [key.data for key, mask in events if mask & _READ and key.data is not None]
        if not self._step_away(read + ready):
            for pool in pools:
                pool.release_deferred()
            self._run_timers()
            return False
        leading.on = False
        first, rest = pools[0], pools[1:]
        for pool in rest:
            pool.release_deferred()
        worker = first.take_deferred()
        if worker is not None:
            first.run_here(worker)
        if not self._come_back():
            return True  # taken over: the new leader's first turn runs the timers due
        leading.on = True
        self._run_timers()
        return False

    def _read(self, channel: Channel) -> None:
        """Let paho read; bytes left over (that the selector will not announce) are read on the
        next turn."""
        if self._channels.get(channel.fd) is not channel:
            return
        with channel.lock:
            self._step(channel, "read", channel.client.loop_read)
            again = self._channels.get(channel.fd) is channel and channel.pending()
        if again and channel not in self._ready:
            self._ready.append(channel)

    def _step(self, channel: Channel, what: str, step: Callable[[], object]) -> None:
        """One paho step on ``channel`` (the caller holds its lock)."""
        try:
            step()  # paho handles its own errors: a lost connection closes the socket
        except Exception:
            log.exception("%s: %s on socket %d failed", self.name, what, channel.fd)
            self._forget(channel)
            with contextlib.suppress(Exception):
                channel.sock.close()

    def _timeout(self, busy: bool) -> float | None:
        if busy or self._calls:
            return 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _run_calls(self) -> None:
        calls = self._calls
        for _ in range(len(calls)):
            _logged(calls.popleft(), "a loop call")()

    def _run_timers(self) -> None:
        now = time.monotonic()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, timer = heapq.heappop(timers)
            if not timer.cancelled:
                _logged(timer.call, "a timer")()


class _Lookout:
    """What the standby sleeps on: its own ring, and the loop's selector while it is armed.

    On Linux the loop's epoll is itself watched by a second epoll, its interest switched on and
    off by one system call that wakes nobody; elsewhere arming rings at once (the standby is
    woken for every step away, as if handed the loop)."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._ring_r, self._ring_w = socket.socketpair()
        self._ring_r.setblocking(False)
        self._ring_w.setblocking(False)
        self._inner = selector.fileno() if isinstance(selector, selectors.EpollSelector) else -1
        self.lazy = self._inner >= 0  # arming wakes nobody
        self._epoll: Any = None
        if self._inner >= 0:
            self._epoll = select.epoll()
            self._epoll.register(self._ring_r.fileno(), select.EPOLLIN)
            self._epoll.register(self._inner, 0)
        else:
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._ring_r, _READ)

    def arm(self) -> None:
        """Wake the standby as soon as the loop has something to do."""
        if self._epoll is not None:
            self._epoll.modify(self._inner, select.EPOLLIN)
        else:
            self.ring()

    def disarm(self) -> None:
        if self._epoll is not None:
            self._epoll.modify(self._inner, 0)

    def ring(self) -> None:
        """Wake the standby now."""
        with contextlib.suppress(BlockingIOError, OSError):
            self._ring_w.send(b"\0")

    def wait(self, timeout: float | None) -> None:
        """Sleep until armed and the loop has something to do, rung, or ``timeout`` s."""
        try:
            if self._epoll is not None:
                self._epoll.poll(-1 if timeout is None else timeout)
            else:
                self._selector.select(timeout)
        except OSError as exc:  # EINTR is retried by Python
            log.error("the standby's wait failed: %s", exc)
            time.sleep(NAP)
        with contextlib.suppress(BlockingIOError, OSError):
            self._ring_r.recv(4096)

    def close(self) -> None:
        for closable in (self._epoll, self._ring_r, self._ring_w):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()


def _logged(call: Callable[[], object], what: str) -> Callable[[], None]:
    def run() -> None:
        try:
            call()
        except Exception:  # the loop must outlive any call
            log.exception("%s failed", what)

    return run
