"""Product models: Huawei and Tencent model files read into plain objects, classes built from
them, and classes checked against them."""

from .product import ProductModel
from .schema import (
    CommandModel,
    CommandNotImplemented,
    EventModel,
    ParamModel,
    Problem,
    PropertyModel,
    ServiceModel,
)

__all__ = [
    "CommandModel",
    "CommandNotImplemented",
    "EventModel",
    "ParamModel",
    "Problem",
    "ProductModel",
    "PropertyModel",
    "ServiceModel",
]
