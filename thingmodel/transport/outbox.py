"""``SqliteOutbox``: the messages waiting for the broker's acknowledgement, kept in an SQLite file.

The transport keeps its queue in memory; the outbox is the durable mirror of every message it
accepted and the broker has not acknowledged yet (queued or in flight). A device process killed
while offline finds them again after it restarts (:meth:`SqliteOutbox.load`) and sends them, in
order.

- Each :meth:`~SqliteOutbox.add` is committed before it returns. WAL journal with
  ``synchronous=NORMAL``: a commit survives the process being killed (SIGKILL, a crash), but a
  power loss or an OS crash may lose the last commits (they reach the disk at the next
  checkpoint). Rows: ``key INTEGER PRIMARY KEY AUTOINCREMENT`` (so keys only ever grow, across
  restarts too), ``topic TEXT``, ``payload BLOB``, ``qos INTEGER``, ``retain INTEGER``; the
  schema version is ``PRAGMA user_version``.
- Bounded like the memory queue: never more than ``limit`` rows. Past it the *oldest* are
  deleted, in the same transaction as the add, and returned so the transport can count them.
- The file (and a directory it creates for it) is the owner's only, ``0600`` (``0700``): a
  report may hold what a secret deserves. A file found with wider permissions is tightened.
- One process at a time: the file stays locked while the outbox is open (SQLite's exclusive
  locking mode), so two devices never send each other's messages; a second opener gets
  :class:`OutboxError`. The lock goes with the process, however it ends.
- A file that is not a readable outbox (not SQLite, another schema, a damaged page, a row of the
  wrong type) is renamed aside, never deleted, to ``<name>.corrupt-<UTC timestamp>``, logged at
  ERROR, described in :attr:`SqliteOutbox.problem`, and a fresh empty outbox takes its place. Only
  a path that cannot be used at all (a directory, no permission, locked by another process)
  raises :class:`OutboxError`.
"""

from __future__ import annotations

import datetime
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable

from ..errors import ThingModelError
from ..protocol.messages import Outgoing

log = logging.getLogger("thingmodel.transport.outbox")

SCHEMA_VERSION = 1
_CREATE = (
    "CREATE TABLE outbox (key INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
    " payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL)"
)
_COLUMNS = [
    ("key", "INTEGER"),
    ("topic", "TEXT"),
    ("payload", "BLOB"),
    ("qos", "INTEGER"),
    ("retain", "INTEGER"),
]
#: what sqlite_master of an outbox holds (sqlite_sequence comes with AUTOINCREMENT)
_OBJECTS = {("table", "outbox"), ("table", "sqlite_sequence")}
# The topic is read as bytes and decoded here: SQLite does not check that TEXT is UTF-8.
_ROWS = (
    "SELECT key, CAST(topic AS BLOB), typeof(topic), payload, typeof(payload), qos, typeof(qos),"
    " retain, typeof(retain) FROM outbox"
)
_INSERT = "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)"
_DELETE = "DELETE FROM outbox WHERE key = ?"
#: files SQLite keeps next to the database; they go aside with it (left behind, a journal or
#: WAL of the old file would be replayed into the fresh one)
_SIDE_FILES = ("-wal", "-shm", "-journal")
_PRIVATE = 0o600


class OutboxError(ThingModelError, OSError):
    """The outbox path cannot be used (a directory, no permission, in use by another process),
    or a write to it failed (disk full, the file damaged while open)."""


class OutboxClosed(ThingModelError, ValueError):
    """The outbox was used after :meth:`SqliteOutbox.close`."""


class _Unreadable(Exception):
    """The file is not a readable outbox; the message says why."""


class SqliteOutbox:
    """Messages waiting for the broker's acknowledgement, kept in an SQLite file.

    Thread-safe: one connection (``check_same_thread=False``) behind one lock. Power loss may
    lose the last commits; a killed process loses none (see the module docstring).
    """

    #: what was wrong with the file found at start, as logged (None: nothing)
    problem: str | None
    #: the oldest messages of a file that held more than ``limit``, deleted when it was opened
    #: (in order; the transport counts them as dropped). :meth:`load` returns the rest.
    dropped_at_load: list[Outgoing]

    def __init__(self, path: str | os.PathLike[str], *, limit: int = 1000) -> None:
        if limit < 1:
            raise ValueError(f"outbox limit must be at least 1, not {limit}")
        self.path = os.fspath(path)
        self.limit = limit
        self.problem = None
        self.dropped_at_load = []
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._count = 0
        self._last_at_open = 0  # the newest key a previous process left
        self._prepare_file()
        try:
            self._db = self._open()
        except _Unreadable as exc:
            self.problem = self._set_aside(str(exc))
            self._prepare_file()
            try:
                self._db = self._open()
            except _Unreadable as again:  # a file we just created: not the file's fault
                raise OutboxError(f"cannot create the outbox {self.path}: {again}") from None

    def __repr__(self) -> str:
        state = "closed" if self._db is None else f"{self._count} waiting"
        return f"<SqliteOutbox {self.path} {state}, limit {self.limit}>"

    # -- the file --------------------------------------------------------------------------------
    def _prepare_file(self) -> None:
        """Create the file (and its directory) private to the owner, or tighten an existing one."""
        path = self.path
        if os.path.isdir(path):
            raise OutboxError(f"outbox {path} is a directory, not a file")
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"cannot create the directory of the outbox {path}: {_reason(exc)}") from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE)
        except FileExistsError:
            self._check_existing()
        except OSError as exc:
            raise OutboxError(f"cannot create the outbox {path}: {_reason(exc)}") from None
        else:
            try:
                os.fchmod(fd, _PRIVATE)  # exactly 0600, whatever the umask
            finally:
                os.close(fd)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutboxError(f"outbox {path}: no permission to write in its directory {directory}")

    def _check_existing(self) -> None:
        path = self.path
        try:
            info = os.stat(path)
        except OSError as exc:
            raise OutboxError(f"cannot open the outbox {path}: {_reason(exc)}") from None
        if not stat.S_ISREG(info.st_mode):
            raise OutboxError(f"outbox {path} is not a regular file")
        if not os.access(path, os.R_OK | os.W_OK):
            raise OutboxError(f"outbox {path}: no permission to read and write it")
        for name in (path, *(path + side for side in _SIDE_FILES)):
            try:
                mode = stat.S_IMODE(os.stat(name).st_mode)
            except FileNotFoundError:
                continue
            if mode & 0o077:
                try:
                    os.chmod(name, _PRIVATE)
                except OSError as exc:
                    raise OutboxError(
                        f"outbox {name} is readable by others (mode {mode:04o}) and cannot be"
                        f" made private: {_reason(exc)}"
                    ) from None
                log.info("outbox %s was open to others (mode %04o): now %04o", name, mode, _PRIVATE)

    def _open(self) -> sqlite3.Connection:
        """Connect, check the file and make it ready; _Unreadable when it is not an outbox."""
        db = sqlite3.connect(self.path, timeout=0.5, isolation_level=None, check_same_thread=False)
        try:
            # Set before the first read: the lock is then held until close, and the WAL index is
            # kept in memory (no -shm file).
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            # Read-only checks first: a file that is not ours is set aside with its bytes untouched.
            count, last = self._check(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            if last is None:
                db.execute(_CREATE)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                last = 0
            elif count > self.limit:
                oldest = db.execute(f"{_ROWS} ORDER BY key LIMIT ?", (count - self.limit,)).fetchall()
                db.execute("DELETE FROM outbox WHERE key <= ?", (oldest[-1][0],))
                self.dropped_at_load = [_decode(row) for row in oldest]
                count = self.limit
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.close()
            if _is_damage(exc):
                raise _Unreadable(str(exc)) from None
            if _is_busy(exc):
                raise OutboxError(
                    f"outbox {self.path} is in use by another process (or another SqliteOutbox)"
                ) from None
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from None
        except _Unreadable:
            db.close()
            raise
        if self.dropped_at_load:
            log.warning(
                "outbox %s held more than its limit of %d messages: dropped the %d oldest",
                self.path,
                self.limit,
                len(self.dropped_at_load),
            )
        self._count = count
        self._last_at_open = last
        return db

    @staticmethod
    def _check(db: sqlite3.Connection) -> tuple[int, int | None]:
        """``(rows, newest key)`` of an outbox, ``(0, None)`` for an empty file; _Unreadable
        for anything else. Only reads."""
        objects = {(kind, name) for kind, name in db.execute("SELECT type, name FROM sqlite_master")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if not objects and version == 0:
            return 0, None
        if ("table", "outbox") not in objects:
            names = ", ".join(sorted(name for _, name in objects)) or "nothing"
            raise _Unreadable(f"not an outbox: no outbox table (it holds {names})")
        if objects != _OBJECTS:
            extra = ", ".join(sorted(f"{kind} {name}" for kind, name in objects - _OBJECTS))
            raise _Unreadable(f"not an outbox: unexpected {extra}")
        if version != SCHEMA_VERSION:
            raise _Unreadable(f"outbox schema version {version}, this version reads {SCHEMA_VERSION}")
        columns = [(row[1], row[2].upper()) for row in db.execute("PRAGMA table_info(outbox)")]
        if columns != _COLUMNS:
            found = ", ".join(f"{name} {kind}" for name, kind in columns)
            raise _Unreadable(f"not an outbox: the outbox table has columns ({found})")
        verdict = db.execute("PRAGMA quick_check").fetchall()
        if verdict != [("ok",)]:
            raise _Unreadable(f"damaged: {verdict[0][0]}")
        count, last = 0, 0
        for row in db.execute(f"{_ROWS} ORDER BY key"):
            _decode(row)
            count, last = count + 1, row[0]
        return count, last

    def _set_aside(self, reason: str) -> str:
        """Rename the file (and its side files) out of the way; returns the line it logged."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = f"{self.path}.corrupt-{stamp}"
        n = 1
        while any(os.path.lexists(aside + side) for side in ("", *_SIDE_FILES)):
            aside, n = f"{self.path}.corrupt-{stamp}-{n}", n + 1
        try:
            os.rename(self.path, aside)
            for side in _SIDE_FILES:  # named so SQLite would pair them again with the copy
                if os.path.lexists(self.path + side):
                    os.rename(self.path + side, aside + side)
        except OSError as exc:
            raise OutboxError(
                f"outbox {self.path} is unreadable ({reason}) and cannot be set aside: {_reason(exc)}"
            ) from None
        line = f"outbox {self.path} is unreadable ({reason}): set aside as {aside}; starting empty"
        log.error("%s", line)
        return line

    # -- the messages ----------------------------------------------------------------------------
    def load(self) -> list[tuple[int, Outgoing]]:
        """What a previous process left, oldest first, as ``(key, message)``: the rows that were
        there when the outbox was opened (less any removed since, and :attr:`dropped_at_load`).
        Meant to be called once, before the first :meth:`add`."""
        with self._lock:
            db = self._live()
            try:
                rows = db.execute(f"{_ROWS} WHERE key <= ? ORDER BY key", (self._last_at_open,)).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot read the outbox {self.path}: {exc}") from None
        return [(row[0], _decode(row)) for row in rows]

    def add(self, message: Outgoing) -> tuple[int, list[Outgoing]]:
        """Keep one message; committed before this returns.

        Returns ``(key, trimmed)``: the message's key (larger than every key before it, for
        :meth:`remove`) and the oldest messages deleted in the same transaction to stay within
        ``limit``, oldest first (usually none; the caller counts them as dropped). A message of
        the wrong types raises ValueError and changes nothing.
        """
        row = _row(message)
        with self._lock:
            db = self._live()
            over = self._count + 1 - self.limit
            try:
                db.execute("BEGIN IMMEDIATE")
                key = db.execute(_INSERT, row).lastrowid
                oldest = []
                if over > 0:
                    oldest = db.execute(f"{_ROWS} ORDER BY key LIMIT ?", (over,)).fetchall()
                    db.execute("DELETE FROM outbox WHERE key <= ?", (oldest[-1][0],))
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                raise OutboxError(f"cannot write to the outbox {self.path}: {exc}") from None
            assert key is not None
            self._count += 1 - len(oldest)
        return key, [_decode(row) for row in oldest]

    def remove(self, key: int) -> None:
        """Forget one message (acknowledged, or dropped); an unknown key is a no-op."""
        with self._lock:
            db = self._live()
            try:
                self._count -= db.execute(_DELETE, (key,)).rowcount
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot write to the outbox {self.path}: {exc}") from None

    def remove_many(self, keys: Iterable[int]) -> None:
        """Forget these messages, in one transaction; unknown keys are skipped."""
        params = [(key,) for key in keys]
        with self._lock:
            db = self._live()
            if not params:
                return
            try:
                db.execute("BEGIN IMMEDIATE")
                removed = db.executemany(_DELETE, params).rowcount
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                raise OutboxError(f"cannot write to the outbox {self.path}: {exc}") from None
            self._count -= removed

    def __len__(self) -> int:
        """Messages kept (after :meth:`close`: as many as were left in the file)."""
        with self._lock:
            return self._count

    def close(self) -> None:
        """Close the file (what it holds stays for the next open). Idempotent; using the outbox
        afterwards raises :class:`OutboxClosed`."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                try:
                    db.close()
                except sqlite3.Error as exc:
                    log.warning("closing the outbox %s: %s", self.path, exc)

    def _live(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxClosed(f"outbox {self.path} is closed")
        return self._db

    def _rollback(self, db: sqlite3.Connection) -> None:
        if db.in_transaction:  # some errors end the transaction themselves
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.warning("rolling back the outbox %s: %s", self.path, exc)


def _row(message: Outgoing) -> tuple[str, bytes, int, int]:
    """The row of a message, or ValueError naming the field of the wrong type."""
    # typed as object: attrs does not check the types, and a wrong one would poison the file
    topic: object = message.topic
    payload: object = message.payload
    qos: object = message.qos
    retain: object = message.retain
    if not isinstance(topic, str):
        raise ValueError(f"outbox: the topic must be a str, not {type(topic).__name__}")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ValueError(f"outbox: the payload of {topic} must be bytes, not {type(payload).__name__}")
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        raise ValueError(f"outbox: the qos of {topic} must be 0, 1 or 2, not {qos!r}")
    if not isinstance(retain, bool):
        raise ValueError(f"outbox: retain of {topic} must be a bool, not {type(retain).__name__}")
    assert isinstance(qos, int)
    return topic, bytes(payload), qos, int(retain)


def _decode(row: tuple[object, ...]) -> Outgoing:
    """The message of a row read with ``_ROWS``; _Unreadable when a field has the wrong type."""
    key, topic, topic_type, payload, payload_type, qos, qos_type, retain, retain_type = row
    if topic_type != "text":
        raise _Unreadable(f"row {key}: the topic is {topic_type}, not text")
    if payload_type != "blob":
        raise _Unreadable(f"row {key}: the payload is {payload_type}, not a blob")
    if qos_type != "integer" or qos not in (0, 1, 2):
        raise _Unreadable(f"row {key}: qos is {qos!r}, not 0, 1 or 2")
    if retain_type != "integer" or retain not in (0, 1):
        raise _Unreadable(f"row {key}: retain is {retain!r}, not 0 or 1")
    assert isinstance(topic, bytes) and isinstance(payload, bytes) and isinstance(qos, int)
    try:
        text = topic.decode()
    except UnicodeDecodeError:
        raise _Unreadable(f"row {key}: the topic is not UTF-8") from None
    return Outgoing(text, payload, qos, bool(retain))


def _is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file is not a database, or a damaged one."""
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if name:
        return str(name).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return str(name).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    return "locked" in str(exc)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
