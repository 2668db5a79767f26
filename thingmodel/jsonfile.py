"""JSON files the user keeps (a registry, credentials, a provisioning config): read with one-line
errors that name the file and the place, written atomically with the mode a secret deserves."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import ModelError


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def read_json_file(path: str | os.PathLike[str], *, missing: str = "no such file") -> Any:
    """The JSON value in ``path``; ModelError naming the file (and the line and column) when it
    is missing (``missing`` says what to do), unreadable, not UTF-8, not JSON, or holds a key
    twice in one object."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(missing, source=source) from None
    except UnicodeDecodeError:
        raise ModelError("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise ModelError(f"cannot read it ({exc.strerror})", source=source) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        location = f"line {exc.lineno}, column {exc.colno}"
        raise ModelError(f"not JSON ({exc.msg})", source=source, location=location) from None
    except _Duplicate as exc:
        raise ModelError(f"key {exc.key!r} appears twice", source=source) from None


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new, never half."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
