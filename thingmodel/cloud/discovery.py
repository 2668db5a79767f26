"""Where the running local cloud listens, so that the CLI finds it wherever it is.

``thingmodel cloud`` records its URLs in ``cloud.json`` under the state folder
(``$THINGMODEL_STATE_DIR``, else ``$XDG_RUNTIME_DIR/thingmodel``, else ``~/.cache/thingmodel``)
and removes the file when it stops; a record whose process is gone is ignored. The CLI looks, in
order, at ``--cloud URL``, ``$THINGMODEL_CLOUD``, that record, then :data:`DEFAULT_URL`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

DEFAULT_HTTP_PORT = 8780
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"


def state_dir() -> Path:
    given = os.environ.get("THINGMODEL_STATE_DIR")
    if given:
        return Path(given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "thingmodel"
    return Path.home() / ".cache" / "thingmodel"


def _file() -> Path:
    return state_dir() / "cloud.json"


def record(*, vendor: str, mqtt_url: str, http_url: str) -> None:
    """Say where this process's cloud listens (best effort: a read-only home is not an error)."""
    path = _file()
    data = {"vendor": vendor, "mqtt_url": mqtt_url, "http_url": http_url, "pid": os.getpid()}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(path)


def forget() -> None:
    """Remove the record, if it is this process's."""
    found = _read()
    if found is not None and found.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            _file().unlink()


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read() -> dict[str, Any] | None:
    try:
        data = json.loads(_file().read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find() -> dict[str, Any] | None:
    """The running cloud's record (``vendor``, ``mqtt_url``, ``http_url``), or None."""
    data = _read()
    if data is None or not _alive(data.get("pid")):
        return None
    if not all(isinstance(data.get(k), str) for k in ("vendor", "mqtt_url", "http_url")):
        return None
    return data


def cloud_url(given: str | None = None) -> str:
    """The HTTP URL of the cloud the CLI should talk to (see the module docstring)."""
    if given:
        return given
    env = os.environ.get("THINGMODEL_CLOUD")
    if env:
        return env
    found = find()
    return str(found["http_url"]) if found is not None else DEFAULT_URL
