"""The local cloud: device shadows and the platform side of each vendor protocol."""

from .app import CommandOutcome, DesireOutcome
from .local import LocalCloud
from .shadows import ShadowCloud
from .store import MemoryStore, ShadowStore, SqliteStore

__all__ = [
    "CommandOutcome",
    "DesireOutcome",
    "LocalCloud",
    "MemoryStore",
    "ShadowCloud",
    "ShadowStore",
    "SqliteStore",
]
