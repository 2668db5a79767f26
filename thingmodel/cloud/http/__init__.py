"""The local cloud's HTTP side: the thingmodel API, the console and the vendors' REST dialects."""

from __future__ import annotations

from .server import AppKey, HttpServer, make_app

__all__ = ["AppKey", "HttpServer", "make_app"]
