"""The local cloud: device shadows and the platform side of each vendor protocol."""

from .shadows import ShadowCloud
from .store import MemoryStore, ShadowStore

__all__ = ["MemoryStore", "ShadowCloud", "ShadowStore"]
