"""The exceptions thingmodel raises, all under :class:`ThingModelError`. Each also subclasses the
builtin it refines, so ``except ValueError`` and friends keep working.

    ThingModelError
    ├── InvalidValue (ValueError)          one value does not fit its type
    │   └── UnknownDevice                  a device id the cloud has never heard of
    ├── ValidationError (ValueError)       every failure of one request
    ├── DefinitionError (TypeError)        a Service class declared wrongly
    ├── ModelError (ValueError)            a broken product-model file
    ├── CodecError (ValueError)            a message that cannot be encoded or decoded
    │   └── NotSupported                   a feature the vendor's protocol does not have
    ├── NotAttached (RuntimeError)         a service not attached to a device
    ├── ConnectError (ConnectionError)     no connection (in time)
    │   └── AuthenticationError            the broker refused the credentials
    ├── DeviceOffline                      the device is not connected to the cloud
    ├── BrokerError (RuntimeError)         a broker could not be started
    ├── ShadowError                        a shadow request AWS would reject (its code and text)
    └── CommandNotImplemented              a command of a class built from a model, not written yet
"""

from __future__ import annotations

from collections.abc import Mapping


class ThingModelError(Exception):
    """Base class of every error raised by thingmodel."""


class InvalidValue(ThingModelError, ValueError):
    """One value does not fit its type (wrong type, out of range, too long, not in the enum)."""


class UnknownDevice(InvalidValue):
    """A device id the cloud has no shadow, connection or registration for."""

    def __init__(self, device_id: str) -> None:
        super().__init__(f"device {device_id!r} is not known to this cloud (no shadow, never connected)")
        self.device_id = device_id


class DeviceOffline(ThingModelError):
    """The device is not connected, so a request that needs its answer cannot be served."""

    def __init__(self, device_id: str) -> None:
        super().__init__(f"device {device_id!r} is offline")
        self.device_id = device_id


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


class NotSupported(CodecError):
    """A feature the vendor's protocol does not have (time sync on AWS, log shipping on
    Tencent ...): raised where the feature is set up or called, naming the vendor."""


class NotAttached(ThingModelError, RuntimeError):
    """The service is not attached to a device yet, so it cannot report."""


class ConnectError(ThingModelError, ConnectionError):
    """The transport could not connect (in time)."""


class AuthenticationError(ConnectError):
    """The broker refused the credentials; retrying would not help."""


class BrokerError(ThingModelError, RuntimeError):
    """A broker could not be started."""


class ShadowError(ThingModelError):
    """A shadow request AWS would reject: ``code`` and ``message`` are AWS's."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class CommandNotImplemented(ThingModelError):
    """A command of a class built from a product model was called, but no subclass implements it."""
