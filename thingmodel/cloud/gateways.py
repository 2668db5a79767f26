"""``GatewayBook``: the local cloud's record of which child devices each gateway speaks for.

Vendor-free: the vendor's platform half decodes what a gateway asks (:class:`GatewayAsked`) and
encodes what the cloud tells it; this book is what both consult. A child is an ordinary device
of the cloud (its own shadow, its own presence); the book adds that it is reached through its
gateway, so a command, a write or a read for the child goes out on the gateway's connection.
Each gateway's list has a version that grows with every change (Huawei's notify and sync carry
it). Bounded: at most :data:`MAX_CHILDREN` children a gateway. With :meth:`GatewayBook.keep_in`
the children and versions are kept in the cloud's SQLite store as well, written before the
gateway is answered, so a restarted cloud still knows them.

It also keeps which children their gateways said are online (:meth:`GatewayBook.set_online`):
the local cloud's presence follows it, and its broker lets a gateway use a child's own topics
(Tencent) only while the child is bound to it and online. :func:`answer_gateway` is what the
cloud does with a gateway's request, whatever the vendor.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import attrs

from ..errors import InvalidValue
from ..protocol.gateway import (
    AddChildren,
    ChildInfo,
    ChildrenAnswered,
    ChildrenChanged,
    ChildrenStatus,
    GatewayAsked,
    GatewayDownlink,
    RemoveChildren,
)
from .store import SqliteFile

#: children one gateway may have (IoTDA's own limit is per gateway too)
MAX_CHILDREN = 2000


class GatewayBook:
    """Children by gateway and gateway by child; thread-safe."""

    def __init__(self, *, max_children: int = MAX_CHILDREN) -> None:
        self.max_children = max_children
        self._lock = threading.Lock()
        self._children: dict[str, dict[str, ChildInfo]] = {}
        self._parent: dict[str, str] = {}
        self._versions: dict[str, int] = {}
        self._online: set[str] = set()
        self._file: BookFile | None = None

    def keep_in(self, path: str | os.PathLike[str]) -> None:
        """Keep the children in the SQLite file at ``path`` from now on, starting with those it
        holds (OSError if it cannot be opened)."""
        book = BookFile(path)
        children, versions = book.load()
        with self._lock:
            for gateway_id, child in children:
                self._children.setdefault(gateway_id, {})[child.device_id] = child
                self._parent[child.device_id] = gateway_id
            self._versions.update(versions)
            self._file = book

    def close(self) -> None:
        """Close the file the children are kept in (if any)."""
        with self._lock:
            book, self._file = self._file, None
        if book is not None:
            book.close()

    def add(self, gateway_id: str, child: ChildInfo) -> None:
        """Record ``child`` under ``gateway_id``; InvalidValue if another gateway has it, if it is
        the gateway itself, or if the gateway is full."""
        with self._lock:
            if child.device_id == gateway_id:
                raise InvalidValue(f"gateway {gateway_id} cannot be its own child")
            parent = self._parent.get(child.device_id)
            if parent is not None and parent != gateway_id:
                raise InvalidValue(f"{child.device_id} is a child of gateway {parent} already")
            if child.device_id in self._children:
                raise InvalidValue(f"{child.device_id} is a gateway: it cannot be a child")
            children = self._children.get(gateway_id, {})
            if child.device_id not in children and len(children) >= self.max_children:
                raise InvalidValue(f"gateway {gateway_id} has {self.max_children} children: no room")
            version = self._versions.get(gateway_id, 0) + 1
            self._keep(lambda book: book.save(gateway_id, child, version))
            self._children.setdefault(gateway_id, {})[child.device_id] = child
            self._parent[child.device_id] = gateway_id
            self._versions[gateway_id] = version

    def remove(self, gateway_id: str, device_id: str) -> bool:
        """Forget ``device_id`` as ``gateway_id``'s child; whether it was one."""
        with self._lock:
            children = self._children.get(gateway_id, {})
            if device_id not in children:
                return False
            version = self._versions.get(gateway_id, 0) + 1
            self._keep(lambda book: book.delete(gateway_id, device_id, version))
            del children[device_id]
            del self._parent[device_id]
            self._online.discard(device_id)
            if not children:
                self._children.pop(gateway_id, None)
            self._versions[gateway_id] = version
            return True

    def _keep(self, write: Callable[[BookFile], None]) -> None:
        """Write a change to the file before the book makes it (caller holds the lock); a
        failed write is InvalidValue, the book unchanged."""
        if self._file is not None:
            try:
                write(self._file)
            except OSError as exc:
                raise InvalidValue(f"the cloud cannot keep the change: {exc}") from exc

    def parent_of(self, device_id: str) -> str | None:
        """The gateway ``device_id`` is reached through (None: it connects itself)."""
        return self._parent.get(device_id)

    def children_of(self, gateway_id: str) -> list[ChildInfo]:
        """``gateway_id``'s children, in the order they were added."""
        with self._lock:
            return list(self._children.get(gateway_id, {}).values())

    def child(self, gateway_id: str, device_id: str) -> ChildInfo | None:
        return self._children.get(gateway_id, {}).get(device_id)

    def version_of(self, gateway_id: str) -> int:
        """The version of ``gateway_id``'s list (0 before its first child)."""
        return self._versions.get(gateway_id, 0)

    def gateways(self) -> list[str]:
        with self._lock:
            return list(self._children)

    def set_online(self, device_id: str, online: bool) -> bool:
        """Record what a child's gateway said of it; whether that changed anything (a device
        that is no child is never online here)."""
        with self._lock:
            if online and device_id not in self._parent:
                return False
            if online == (device_id in self._online):
                return False
            if online:
                self._online.add(device_id)
            else:
                self._online.discard(device_id)
            return True

    def is_online(self, device_id: str) -> bool:
        """Whether ``device_id`` is a child its gateway said is online."""
        return device_id in self._online

    def online_children(self, gateway_id: str) -> list[str]:
        """``gateway_id``'s children that are online, in the order they were added."""
        with self._lock:
            return [d for d in self._children.get(gateway_id, {}) if d in self._online]


class BookFile(SqliteFile):
    """A book's children and versions in a SQLite file (the local cloud's ``--store``, beside
    its shadows); each change commits on its own."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS gateway_children (device_id TEXT PRIMARY KEY,"
            " gateway_id TEXT NOT NULL, product_id TEXT, node_id TEXT, name TEXT,"
            " added INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS gateway_versions (gateway_id TEXT PRIMARY KEY,"
            " version INTEGER NOT NULL);",
            "gateway book",
        )

    def load(self) -> tuple[list[tuple[str, ChildInfo]], dict[str, int]]:
        """The children (with their gateways) in the order they were added, and the versions."""
        rows = self._checked(
            "SELECT gateway_id, device_id, product_id, node_id, name FROM gateway_children ORDER BY added"
        )
        children = [(g, ChildInfo(d, product_id=p, node_id=n, name=m)) for g, d, p, n, m in rows]
        versions = dict(self._checked("SELECT gateway_id, version FROM gateway_versions"))
        return children, versions

    def save(self, gateway_id: str, child: ChildInfo, version: int) -> None:
        with self.transaction():
            self._checked(
                "INSERT INTO gateway_children VALUES (?, ?, ?, ?, ?,"
                " (SELECT COALESCE(MAX(added), 0) + 1 FROM gateway_children))"
                " ON CONFLICT (device_id) DO UPDATE SET product_id = excluded.product_id,"
                " node_id = excluded.node_id, name = excluded.name",
                (child.device_id, gateway_id, child.product_id, child.node_id, child.name),
            )
            self._version(gateway_id, version)

    def delete(self, gateway_id: str, device_id: str, version: int) -> None:
        with self.transaction():
            self._checked("DELETE FROM gateway_children WHERE device_id = ?", (device_id,))
            self._version(gateway_id, version)

    def _version(self, gateway_id: str, version: int) -> None:
        self._checked(
            "INSERT INTO gateway_versions VALUES (?, ?)"
            " ON CONFLICT (gateway_id) DO UPDATE SET version = excluded.version",
            (gateway_id, version),
        )

    def _checked(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self._run(sql, params)
        except sqlite3.Error as exc:
            raise OSError(f"gateway book {self.path}: {exc}") from exc


#: ``(gateway_id, child)`` -> None to accept the child, else why not (a registry's check)
ChildCheck = Callable[[str, ChildInfo], "str | None"]


def answer_gateway(
    book: GatewayBook, asked: GatewayAsked, check: ChildCheck | None = None
) -> tuple[list[GatewayDownlink], dict[str, bool]]:
    """Do what a gateway asks, on ``book``: what to tell it, and the children whose online state
    changed (the cloud's presence follows them).

    - add: each child that ``check`` accepts (without one: every child) is recorded, as its
      id, product, node id and name (never a secret or proof); the others fail with the reason;
    - remove: each of the gateway's children is forgotten (and offline); others fail;
    - status: each of the gateway's children is marked online or offline; others fail, as
      "not a child" (a child must be added before it goes online);
    - sync: the whole list, with its version (``ChildrenChanged(complete=True)``).
    """
    gateway, request = asked.device_id, asked.request
    changed: dict[str, bool] = {}
    done: list[str] = []
    failed: dict[str, str] = {}
    if isinstance(request, AddChildren):
        for child in request.children:
            reason = check(gateway, child) if check is not None else None
            if reason is None:
                try:
                    book.add(gateway, without_secrets(child))
                except InvalidValue as exc:
                    reason = str(exc)
            if reason is None:
                done.append(child.device_id)
            else:
                failed[child.device_id] = reason
        return [ChildrenAnswered("add", request.request_id, done, failed)], changed
    if isinstance(request, RemoveChildren):
        for device_id in request.device_ids:
            was_online = book.is_online(device_id)
            if book.remove(gateway, device_id):
                done.append(device_id)
                if was_online:
                    changed[device_id] = False
            else:
                failed[device_id] = f"{device_id} is not a child of gateway {gateway}"
        return [ChildrenAnswered("remove", request.request_id, done, failed)], changed
    if isinstance(request, ChildrenStatus):
        for device_id, online in request.online.items():
            if book.child(gateway, device_id) is None:
                failed[device_id] = f"{device_id} is not a child of gateway {gateway} (add it first)"
                continue
            done.append(device_id)
            if book.set_online(device_id, bool(online)):
                changed[device_id] = bool(online)
        return [ChildrenAnswered("status", request.request_id, done, failed)], changed
    listing = ChildrenChanged(
        added=book.children_of(gateway), version=book.version_of(gateway), complete=True
    )
    return [listing], changed


def without_secrets(child: ChildInfo) -> ChildInfo:
    """``child`` as the cloud may keep or show it."""
    return attrs.evolve(child, secret=None, proof=None)
