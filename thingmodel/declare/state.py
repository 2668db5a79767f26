"""``ServiceState``: the one owner of what a service instance holds (SQLAlchemy's
``instance_state()`` idea).

A Service instance keeps its property values, its lock, the device it is attached to and its
auto-report period here, and nowhere else. ``Property`` descriptors, ``Service`` methods and the
engine reach them through :func:`state_of`; no other module reads a service's ``__dict__``.
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .service import Service, ServiceHost

_KEY = "_thingmodel_state"


class Stored(Protocol):
    """What identifies a stored value: a ``Property`` or the engine's ``PropertySpec``."""

    @property
    def attr(self) -> str: ...

    @property
    def default(self) -> Any: ...


class ServiceState:
    """The values, lock, host and auto-report period of one service instance.

    ``values`` maps attribute names to the values assigned so far (a property never assigned
    has its default); hold ``lock`` to read or write several of them as one.
    """

    __slots__ = ("auto_report", "host", "lock", "values")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.lock = threading.RLock()
        self.host: ServiceHost | None = None
        self.auto_report: float | None = None

    def get(self, prop: Stored) -> Any:
        """The value of ``prop``: the one assigned, else its default. A mutable default (list,
        dict, set) is copied into this instance on first use, so no instance shares the class's."""
        values = self.values
        try:
            return values[prop.attr]
        except KeyError:
            default = prop.default
            if isinstance(default, (list, dict, set)):
                value = values[prop.attr] = copy.deepcopy(default)
                return value
            return default

    def set(self, prop: Stored, value: Any) -> Any:
        """Store ``value`` (already checked) and return the value it replaced."""
        with self.lock:
            old = self.get(prop)
            self.values[prop.attr] = value
        return old


def state_of(service: Service) -> ServiceState:
    """The state of a service instance."""
    state: ServiceState = service.__dict__[_KEY]
    return state


def new_state(service: Service) -> ServiceState:
    """Give a new service instance its state (called once, by ``Service.__new__``)."""
    state = service.__dict__[_KEY] = ServiceState()
    return state
