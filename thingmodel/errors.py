"""The exceptions thingmodel raises. Each subclasses the builtin it refines."""

from __future__ import annotations

from collections.abc import Mapping


class ThingModelError(Exception):
    """Base class of every error raised by thingmodel."""


class InvalidValue(ThingModelError, ValueError):
    """One value does not fit its type (wrong type, out of range, too long, not in the enum)."""


class ValidationError(ThingModelError, ValueError):
    """Every failure of one request, keyed by the name of the thing that failed.

    Unlike a single :class:`InvalidValue`, it carries all reasons, not only the first.
    """

    def __init__(self, errors: Mapping[str, str], what: str = "request") -> None:
        self.errors: dict[str, str] = dict(errors)
        detail = "; ".join(f"{name}: {reason}" for name, reason in self.errors.items())
        super().__init__(f"invalid {what}: {detail}")


class DefinitionError(ThingModelError, TypeError):
    """A Service class is declared wrongly; raised when the class is created."""


class ModelError(ThingModelError, ValueError):
    """A product-model file is broken: the message names the file and the place in it."""

    def __init__(self, message: str, *, source: str = "", location: str = "") -> None:
        self.source = source
        self.location = location
        where = ", ".join(part for part in (source, location) if part)
        super().__init__(f"{where}: {message}" if where else message)


class CodecError(ThingModelError, ValueError):
    """A message could not be encoded or decoded."""


class NotAttached(ThingModelError, RuntimeError):
    """The service is not attached to a device yet, so it cannot report."""
