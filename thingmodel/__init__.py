"""thingmodel: declare a device's services once, keep them in sync with the cloud's shadow."""

from typing import TYPE_CHECKING, Any

from .declare.command import command
from .declare.event import Event
from .declare.property import Property
from .declare.service import Service
from .engine.core import DeviceCore, DeviceError
from .errors import (
    CodecError,
    DefinitionError,
    InvalidValue,
    ModelError,
    NotAttached,
    NotSupported,
    ThingModelError,
    ValidationError,
)
from .features import CloudLogHandler, Ota, Package

if TYPE_CHECKING:
    from .model.product import ProductModel

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ProductModel is imported on first use: devices that do not load models skip its import
    if name == "ProductModel":
        from .model.product import ProductModel

        return ProductModel
    raise AttributeError(f"module 'thingmodel' has no attribute {name!r}")


__all__ = [
    "CloudLogHandler",
    "CodecError",
    "DefinitionError",
    "DeviceCore",
    "DeviceError",
    "Event",
    "InvalidValue",
    "ModelError",
    "NotAttached",
    "NotSupported",
    "Ota",
    "Package",
    "ProductModel",
    "Property",
    "Service",
    "ThingModelError",
    "ValidationError",
    "command",
]
