"""Product models: load them, build Service classes from them, check classes against them.

:meth:`ProductModel.load` reads (see :mod:`thingmodel.model.readers`), detecting the dialect from
the content:

- a Huawei console export: the ``.zip``, its extracted folder (``profile/devicetype-capability.json``
  and ``service/*/profile/servicetype-capability.json``, possibly under one top folder), one
  ``servicetype-capability.json``, or a ``devicetype-capability.json`` beside its service files
  (camelCase; the devicetype file gives each serviceType its serviceId);
- the Huawei IoTDA v5 REST JSON (``service_capabilities``; snake_case);
- a Tencent IoT Explorer data template (``properties``/``events``/``actions``). A template is one
  service; its id is ``profile.ProductId``, or the file stem when the template has no profile.

Huawei ``min``/``max`` bound numbers only (a string's length is ``maxLength``; 0 means none); a
Huawei ``step`` above 0 is enforced. Tencent's ``step`` is a UI hint, not enforced (nor by its
SDKs). A broken file raises :class:`~thingmodel.errors.ModelError` naming the file (and zip
member), the JSON path or line/column, and the reason.

:meth:`ProductModel.service_class` builds a working Service class for one service (see
:mod:`thingmodel.model.build`). :meth:`ProductModel.check` compares a Service class with the
model, like Django's checks; :mod:`thingmodel.model.checks` lists the problem ids (TM001-TM014).
The values themselves are in :mod:`thingmodel.model.schema`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from ..declare.service import Service
from ..errors import InvalidValue, ModelError
from ..ids import validate_id
from . import build
from .checks import check_service
from .readers import read_json, read_path
from .schema import Problem, ServiceModel

__all__ = ["ProductModel"]


@attrs.frozen
class ProductModel:
    """A loaded product model: ``services`` maps each service id to its
    :class:`~thingmodel.model.schema.ServiceModel`. :meth:`check` reports the problems listed in
    :mod:`thingmodel.model.checks`."""

    services: dict[str, ServiceModel]
    source: str = ""
    dialect: str = ""  # "huawei console", "huawei v5" or "tencent data template"

    @property
    def vendor(self) -> str:
        """The dialect's first word (``huawei`` or ``tencent``); empty when there is no dialect."""
        return self.dialect.split()[0] if self.dialect else ""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProductModel:
        """Load a model file or folder of any supported dialect (see the module docstring)."""
        services, dialect = read_path(Path(path))
        return cls(_events_checked(services, str(path)), str(path), dialect)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "<json>", fallback_id: str = "service") -> ProductModel:
        """A model from decoded JSON (one servicetype file, the v5 REST JSON or a Tencent template);
        ``fallback_id`` names a Tencent template that has no ``profile.ProductId``."""
        services, dialect = read_json(data, source, fallback_id)
        return cls(_events_checked(services, source), source, dialect)

    # -- building classes ----------------------------------------------------------------------
    def service(self, service_id: str | None = None) -> ServiceModel:
        """One service; ``service_id`` may be left out when the model has only one."""
        if service_id is None and len(self.services) == 1:
            return next(iter(self.services.values()))
        if service_id in self.services:
            return self.services[service_id]
        raise KeyError(
            f"no service {service_id!r} in {self.source or 'the model'} (it has: {', '.join(self.services)})"
        )

    def service_class(self, service_id: str | None = None) -> type[Service]:
        """A working Service subclass for one service: one Property per model property, one
        command per model command and one Event per model event. Subclass it to add getters,
        setters and command bodies (override the generated method); until then a command answers
        that it is not implemented."""
        return build.service_class(self.service(service_id))

    # -- checking classes ----------------------------------------------------------------------
    def check(self, service_class: type[Service]) -> list[Problem]:
        """Compare a Service class with its service in the model; ``[]`` means they agree."""
        model = self.services.get(service_class.service_id)
        if model is None and self.vendor == "tencent" and len(self.services) == 1:
            model = next(iter(self.services.values()))  # a template is one service, whatever its id
        if model is None:
            return [
                Problem(
                    "TM009",
                    f"{service_class.__name__}: service {service_class.service_id!r} is not in the model",
                    f"set service_id to one of: {', '.join(self.services)}",
                    service_class,
                )
            ]
        return check_service(model, service_class)

    def describe(self) -> str:
        """A short human-readable listing (``thingmodel model show``)."""
        lines = [f"{self.source} ({self.dialect})"]
        for s in self.services.values():
            other_type = s.service_type not in (None, s.service_id)
            lines.append(f"service {s.service_id}" + (f" (type {s.service_type})" if other_type else ""))
            for p in s.properties:
                mode = ("R" if p.readable else " ") + ("W" if p.writeable else " ")
                lines.append(f"  {mode} {p.name}: {p.type.describe()}" + (f" [{p.unit}]" if p.unit else ""))
            for c in s.commands:
                out = f" -> ({build.params_text(c.responses)})" if c.responses else ""
                lines.append(f"  command {c.name}({build.params_text(c.params)}){out}")
            for e in s.events:
                lines.append(
                    f"  event {e.name}({build.params_text(e.params)})" + (f" [{e.type}]" if e.type else "")
                )
        return "\n".join(lines)


def _events_checked(services: dict[str, ServiceModel], source: str) -> dict[str, ServiceModel]:
    """``services``, or ModelError for an event name that cannot name an Event (a control
    character, a slash, an MQTT wildcard, too long), so that every loaded model builds."""
    for service in services.values():
        for event in service.events:
            try:
                validate_id("event name", event.name)
            except InvalidValue as exc:
                raise ModelError(
                    str(exc), source=source, location=f"service {service.service_id!r}"
                ) from None
    return services
