"""Product models: Huawei and Tencent model files read into plain objects, classes built from
them, and classes checked against them."""

from .product import ProductModel

__all__ = ["ProductModel"]
