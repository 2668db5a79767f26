"""thingmodel: declare a device's services once, keep them in sync with the cloud's shadow."""

from typing import TYPE_CHECKING, Any

from .command import command
from .core import DeviceCore, DeviceError
from .errors import (
    CodecError,
    DefinitionError,
    InvalidValue,
    ModelError,
    NotAttached,
    ThingModelError,
    ValidationError,
)
from .property import Property
from .service import Service

if TYPE_CHECKING:
    from .product_model import ProductModel

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ProductModel is imported on first use: devices that do not load models skip its import
    if name == "ProductModel":
        from .product_model import ProductModel

        return ProductModel
    raise AttributeError(f"module 'thingmodel' has no attribute {name!r}")


__all__ = [
    "CodecError",
    "DefinitionError",
    "DeviceCore",
    "DeviceError",
    "InvalidValue",
    "ModelError",
    "NotAttached",
    "ProductModel",
    "Property",
    "Service",
    "ThingModelError",
    "ValidationError",
    "command",
]
