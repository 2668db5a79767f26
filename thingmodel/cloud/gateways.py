"""``GatewayBook``: the local cloud's record of which child devices each gateway speaks for.

Vendor-free: the vendor's platform half decodes what a gateway asks (:class:`GatewayAsked`) and
encodes what the cloud tells it; this book is what both consult. A child is an ordinary device
of the cloud (its own shadow, its own presence); the book adds that it is reached through its
gateway, so a command, a write or a read for the child goes out on the gateway's connection.
Each gateway's list has a version that grows with every change (Huawei's notify and sync carry
it). Bounded: at most :data:`MAX_CHILDREN` children a gateway.
"""

from __future__ import annotations

import threading

from ..errors import InvalidValue
from ..protocol.gateway import ChildInfo

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
            children = self._children.setdefault(gateway_id, {})
            if child.device_id not in children and len(children) >= self.max_children:
                raise InvalidValue(f"gateway {gateway_id} has {self.max_children} children: no room")
            children[child.device_id] = child
            self._parent[child.device_id] = gateway_id
            self._versions[gateway_id] = self._versions.get(gateway_id, 0) + 1

    def remove(self, gateway_id: str, device_id: str) -> bool:
        """Forget ``device_id`` as ``gateway_id``'s child; whether it was one."""
        with self._lock:
            children = self._children.get(gateway_id, {})
            if children.pop(device_id, None) is None:
                return False
            del self._parent[device_id]
            if not children:
                self._children.pop(gateway_id, None)
            self._versions[gateway_id] = self._versions.get(gateway_id, 0) + 1
            return True

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
