"""Device features beyond properties and commands, each declared once: OTA (:mod:`.ota`), log
shipping (:mod:`.logs`), file transfer (:mod:`.files`),
on-device rules (:mod:`.rules`). Events live with services
(:mod:`thingmodel.declare.event`); time sync and messages are calls on ``Device``."""

from .logs import CloudLogHandler
from .ota import Ota, Package

__all__ = ["CloudLogHandler", "Ota", "Package"]
