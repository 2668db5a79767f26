"""Declarations: ``Service``, ``Property`` and ``@command``, reflected once at class creation.

A new kind of declaration (a device event, an OTA handler) is a module here plus a field of
:class:`~thingmodel.declare.service.ServiceSpec` built in ``_build_spec``.
"""

from .command import command
from .property import Property
from .service import Service

__all__ = ["Property", "Service", "command"]
