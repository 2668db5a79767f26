"""``AwsShadowService``: the AWS IoT Device Shadow service, sans-IO, as the local cloud runs it.

Any client (a device, an application, AWS's own SDKs) publishes ``get``/``update``/``delete``
requests; :meth:`AwsShadowService.handle` returns what AWS would publish in answer
(``accepted``/``rejected``, ``update/delta``, ``update/documents``). The semantics follow AWS's
developer guide: recursive merge, ``null`` deletes, whole-array replacement, a delta over the
whole document, versions that survive deletion, per-leaf metadata, AWS's error codes and texts
and its limits. Where AWS's behaviour is not documented we chose, and say so:

- an object emptied by nested ``null`` deletions is removed (so is an emptied section);
- nesting depth counts the levels inside ``desired``/``reported`` (their own object is level 1);
- the 8 KB limit applies to the resulting ``desired`` + ``reported`` as compact JSON;
- ``update/documents`` for a brand-new shadow carries no ``previous``;
- ``delete`` counts as a version, like moto and as AWS's "does not reset the version" implies;
- a 404 names the thing for the classic shadow: ``No shadow exists with name: 'thing'``;
- ``State contains an invalid node: 'x'`` names the node, as AWS's service does;
- an array holding ``null`` is refused with ``Invalid JSON: arrays may not contain null``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import InvalidValue, ShadowError
from ..protocol import messages as ev
from ..protocol.jsonwire import dumps, loads
from ..sentinel import ABSENT
from ..vendors.aws import (
    MAX_PAYLOAD,
    parse_shadow_topic,
    shadow_prefix,
    validate_shadow_name,
    validate_thing_name,
)
from .store import SqliteFile

log = logging.getLogger("thingmodel.cloud.aws")

MAX_STATE_BYTES = 8 * 1024
MAX_DEPTH = 6
MAX_TOKEN_BYTES = 64
SECTIONS = ("desired", "reported")


# --- storage -------------------------------------------------------------------------------------
class DocumentStore(Protocol):
    def load(self, key: str) -> dict[str, Any] | None: ...
    def save(self, key: str, doc: dict[str, Any]) -> None: ...
    def names(self) -> list[str]: ...


class MemoryDocumentStore:
    def __init__(self) -> None:
        self._docs: dict[str, str] = {}

    def load(self, key: str) -> dict[str, Any] | None:
        text = self._docs.get(key)
        return None if text is None else dict(json.loads(text))

    def save(self, key: str, doc: dict[str, Any]) -> None:
        self._docs[key] = json.dumps(doc)

    def names(self) -> list[str]:
        return list(self._docs)

    def transaction(self) -> AbstractContextManager[None]:
        """A no-op: every save counts at once and nothing rolls back."""
        return contextlib.nullcontext()


class SqliteDocumentStore(SqliteFile):
    """Shadow documents in a SQLite file: a save commits by itself, or with its ``transaction()``."""

    def __init__(self, path: str) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS aws_shadows (key TEXT PRIMARY KEY, doc TEXT NOT NULL)",
            "AWS shadow store",
        )

    def load(self, key: str) -> dict[str, Any] | None:
        rows = self._run("SELECT doc FROM aws_shadows WHERE key = ?", (key,))
        return dict(json.loads(rows[0][0])) if rows else None

    def save(self, key: str, doc: dict[str, Any]) -> None:
        self._run("INSERT OR REPLACE INTO aws_shadows (key, doc) VALUES (?, ?)", (key, json.dumps(doc)))

    def names(self) -> list[str]:
        return [row[0] for row in self._run("SELECT key FROM aws_shadows ORDER BY key")]


def _key(thing: str, shadow: str | None) -> str:
    return f"{thing}/{shadow or ''}"  # '/' is in no valid thing or shadow name


# --- document algebra (pure) --------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def merge(old: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge: ``null`` deletes, objects merge, everything else (arrays too) replaces."""
    out = dict(old)
    for key, value in update.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = merge(out[key], value)
            if merged or not out[key]:
                out[key] = merged
            else:
                del out[key]  # emptied by deletions
        else:
            out[key] = _strip_nulls(value)
    return out


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


def delta(desired: Mapping[str, Any], reported: Mapping[str, Any]) -> dict[str, Any]:
    """Desired leaves that differ from reported (objects compared member by member)."""
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = reported.get(key, ABSENT)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = delta(want, have)
            if sub:
                out[key] = sub
        elif have is ABSENT or not _same(want, have):
            out[key] = want
    return out


def stamp(values: Mapping[str, Any], timestamp: int) -> dict[str, Any]:
    """Metadata mirroring ``values``: ``{"timestamp": t}`` on every leaf (an array is one leaf)."""
    return {
        k: stamp(v, timestamp) if isinstance(v, dict) else {"timestamp": timestamp} for k, v in values.items()
    }


def restamp(old: Mapping[str, Any], update: Mapping[str, Any], timestamp: int) -> dict[str, Any]:
    """Old metadata with the leaves ``update`` touched re-stamped and its deletions removed."""
    out = dict(old)
    for key, value in update.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            previous = out.get(key)
            nested = previous if isinstance(previous, dict) and "timestamp" not in previous else {}
            merged = restamp(nested, value, timestamp)
            if merged or not value:
                out[key] = merged
            else:
                out.pop(key, None)
        else:
            out[key] = {"timestamp": timestamp}
    return out


def _prune(metadata: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata restricted to the keys ``values`` still holds."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        meta = metadata.get(key)
        if isinstance(value, dict) and isinstance(meta, dict) and "timestamp" not in meta:
            out[key] = _prune(meta, value)
        elif meta is not None:
            out[key] = meta
    return out


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _has_null_in_array(value: Any, in_array: bool = False) -> bool:
    if value is None:
        return in_array
    if isinstance(value, dict):
        return any(_has_null_in_array(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null_in_array(v, True) for v in value)
    return False


def _sections(state: Mapping[str, Any]) -> dict[str, Any]:
    return {name: state[name] for name in SECTIONS if state.get(name)}


# --- the service -------------------------------------------------------------------------------
class AwsShadowService:
    """Classic and named shadows of any number of things, answering as AWS IoT does."""

    def __init__(self, store: DocumentStore | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.store: DocumentStore = store if store is not None else MemoryDocumentStore()
        self.clock = clock
        self._lock = threading.RLock()

    def subscriptions(self) -> list[str]:
        ops = ("get", "update", "delete")
        return [f"$aws/things/+/shadow/{op}" for op in ops] + [
            f"$aws/things/+/shadow/name/+/{op}" for op in ops
        ]

    # -- MQTT ----------------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> list[ev.Outgoing]:
        """Answer one request published on ``topic``; never raises."""
        parsed = parse_shadow_topic(topic)
        if parsed is None or parsed[2] not in ("get", "update", "delete"):
            log.debug("not a shadow request topic: %s", topic)
            return []
        thing, shadow, operation = parsed
        token: str | None = None
        try:
            try:
                validate_thing_name(thing)
                if shadow is not None:
                    validate_shadow_name(shadow)
            except InvalidValue as exc:
                raise ShadowError(400, str(exc)) from None
            request = self._parse(payload, strict=operation == "update")
            token = self._token(request)
            with self._lock:
                if operation == "get":
                    doc = self.get(thing, shadow)
                    return [self._publish(f"{topic}/accepted", doc, token)]
                if operation == "delete":
                    doc, out = self.delete(thing, shadow)
                    return [self._publish(f"{topic}/accepted", doc, token), *out]
                _, out = self._update(thing, shadow, request, token)
                return out
        except ShadowError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message, "timestamp": self._now()}
            return [self._publish(f"{topic}/rejected", error, token)]
        except Exception:  # a bug must cost one request, not the cloud
            log.exception("shadow request on %s failed", topic)
            error = {"code": 500, "message": "Internal service failure", "timestamp": self._now()}
            return [self._publish(f"{topic}/rejected", error, token)]

    def _parse(self, payload: bytes, *, strict: bool) -> dict[str, Any]:
        if len(payload) > MAX_PAYLOAD:
            raise ShadowError(413, "The payload exceeds the maximum size allowed")
        if not payload and not strict:
            return {}  # get and delete ignore their content
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ShadowError(415, "Unsupported documented encoding; supported encoding is UTF-8") from None
        try:
            value = loads(payload)
        except (ValueError, RecursionError):
            if strict:
                raise ShadowError(400, "Invalid JSON") from None
            return {}
        if not isinstance(value, dict):
            if strict:
                raise ShadowError(400, "Invalid JSON")
            return {}
        return value

    @staticmethod
    def _token(request: Mapping[str, Any]) -> str | None:
        token = request.get("clientToken")
        if token is None:
            return None
        if not isinstance(token, str) or len(token.encode()) > MAX_TOKEN_BYTES:
            raise ShadowError(400, "Invalid clientToken")
        return token

    def _publish(self, topic: str, body: dict[str, Any], token: str | None) -> ev.Outgoing:
        if token is not None:
            body = {**body, "clientToken": token}
        return ev.Outgoing(topic, dumps(body))

    def _now(self) -> int:
        return int(self.clock())

    # -- the operations, also for the application side ----------------------------------------
    def get(self, thing: str, shadow: str | None) -> dict[str, Any]:
        """The ``get/accepted`` document; ShadowError(404) when there is no such shadow."""
        with self._lock:
            doc = self._existing(thing, shadow)
            state = _sections(doc["state"])
            diff = delta(state.get("desired", {}), state.get("reported", {}))
            if diff:
                state["delta"] = diff
            return {
                "state": state,
                "metadata": _sections(doc["metadata"]),
                "version": doc["version"],
                "timestamp": self._now(),
            }

    def update(
        self, thing: str, shadow: str | None, request: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[ev.Outgoing]]:
        """Apply an update request; return its ``update/accepted`` document and every publish
        (accepted, documents, delta) AWS would make. ShadowError when AWS would reject it."""
        validate_thing_name(thing)
        if shadow is not None:
            validate_shadow_name(shadow)
        token = self._token(request)
        with self._lock:
            return self._update(thing, shadow, request, token)

    def delete(self, thing: str, shadow: str | None) -> tuple[dict[str, Any], list[ev.Outgoing]]:
        """Delete a shadow; its version sequence continues with the next update."""
        with self._lock:
            doc = self._existing(thing, shadow)
            version = doc["version"] + 1
            self.store.save(_key(thing, shadow), {"deleted": True, "version": version})
            return {"version": version, "timestamp": self._now()}, []

    def shadows(self, thing: str) -> list[str | None]:
        """The thing's existing shadows: None for the classic one, then names."""
        prefix = f"{thing}/"
        with self._lock:
            names = [key[len(prefix) :] or None for key in self._live() if key.startswith(prefix)]
        return sorted(names, key=lambda n: "" if n is None else "/" + n)

    def things(self) -> list[str]:
        """Things with at least one shadow."""
        with self._lock:
            return sorted({key.split("/", 1)[0] for key in self._live()})

    def _live(self) -> list[str]:
        names = self.store.names()
        return [key for key in names if not (self.store.load(key) or {"deleted": True}).get("deleted")]

    # -- internals -------------------------------------------------------------------------------
    def _existing(self, thing: str, shadow: str | None) -> dict[str, Any]:
        doc = self.store.load(_key(thing, shadow))
        if doc is None or doc.get("deleted"):
            raise ShadowError(404, f"No shadow exists with name: '{shadow or thing}'")
        return doc

    def _update(
        self, thing: str, shadow: str | None, request: Mapping[str, Any], token: str | None
    ) -> tuple[dict[str, Any], list[ev.Outgoing]]:
        sent = self._validate(request)
        key = _key(thing, shadow)
        stored = self.store.load(key)
        exists = stored is not None and not stored.get("deleted")
        old_version = 0 if stored is None else int(stored["version"])
        if "version" in request and request["version"] != old_version:
            raise ShadowError(409, "Version conflict")
        old_state = dict(stored["state"]) if exists and stored else {}
        old_meta = dict(stored["metadata"]) if exists and stored else {}
        now = self._now()
        state, metadata = dict(old_state), dict(old_meta)
        for name in SECTIONS:
            if name not in sent:
                continue
            section = sent[name]
            if section is None:
                state.pop(name, None)
                metadata.pop(name, None)
                continue
            state[name] = merge(old_state.get(name, {}), section)
            metadata[name] = _prune(restamp(old_meta.get(name, {}), section, now), state[name])
        state, metadata = _sections(state), _sections(metadata)
        if len(dumps(state)) > MAX_STATE_BYTES:
            raise ShadowError(413, "The payload exceeds the maximum size allowed")
        version = old_version + 1
        self.store.save(key, {"state": state, "metadata": metadata, "version": version})

        prefix = shadow_prefix(thing, shadow)
        accepted = {
            "state": sent,
            "metadata": {name: stamp(v, now) if isinstance(v, dict) else {} for name, v in sent.items() if v},
            "version": version,
            "timestamp": now,
        }
        documents: dict[str, Any] = {
            "current": {"state": state, "metadata": metadata, "version": version},
            "timestamp": now,
        }
        if exists:
            documents["previous"] = {
                "state": _sections(old_state),
                "metadata": _sections(old_meta),
                "version": old_version,
            }
        out = [
            self._publish(f"{prefix}/update/accepted", accepted, token),
            self._publish(f"{prefix}/update/documents", documents, token),
        ]
        diff = delta(state.get("desired", {}), state.get("reported", {}))
        if isinstance(sent.get("desired"), dict) and diff:
            delta_doc = {
                "state": diff,
                "metadata": _prune(metadata.get("desired", {}), diff),
                "version": version,
                "timestamp": now,
            }
            out.append(self._publish(f"{prefix}/update/delta", delta_doc, token))
        return accepted, out

    @staticmethod
    def _validate(request: Mapping[str, Any]) -> dict[str, Any]:
        """The request's ``state`` sections, or the ShadowError AWS would answer."""
        if "version" in request and (type(request["version"]) is not int):
            raise ShadowError(400, "Invalid version")
        if "state" not in request:
            raise ShadowError(400, "Missing required node: state")
        state = request["state"]
        if state is None:
            return {"desired": None, "reported": None}
        if not isinstance(state, dict):
            raise ShadowError(400, "State node must be an object")
        for node in state:
            if node not in SECTIONS:
                raise ShadowError(400, f"State contains an invalid node: '{node}'")
        for name in SECTIONS:
            if name in state and state[name] is not None and not isinstance(state[name], dict):
                raise ShadowError(400, f"{name.capitalize()} node must be an object")
            if _depth(state.get(name)) > MAX_DEPTH:
                raise ShadowError(400, f"JSON contains too many levels of nesting; maximum is {MAX_DEPTH}")
            if _has_null_in_array(state.get(name)):
                raise ShadowError(400, "Invalid JSON: arrays may not contain null")
        return dict(state)
