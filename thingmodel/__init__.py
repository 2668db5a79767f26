"""thingmodel: declare a device's services once, keep them in sync with the cloud's shadow."""

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
from .product_model import ProductModel
from .property import Property
from .service import Service

__version__ = "0.1.0"

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
