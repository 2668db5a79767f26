"""The local cloud: device shadows and the platform side of each vendor protocol."""

from .local import CommandOutcome, DesireOutcome, LocalCloud
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
