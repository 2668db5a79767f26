"""Running a command: find the service and the command, check the parameters, call the method,
check its result. Never raises: every failure is a response with a non-zero code and a reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..declare.service import Service
from ..errors import InvalidValue, ValidationError
from ..protocol.jsonwire import require_finite
from ..protocol.messages import CommandResponse

#: result codes used in command responses (Huawei: 0 success, anything else failure)
CODE_OK = 0
CODE_FAILED = 1


def service_for(services: Mapping[str, Service], service_id: str | None) -> Service | None:
    """The addressed service; with no id, the only one (None when there are several)."""
    if not service_id:
        return next(iter(services.values())) if len(services) == 1 else None
    return services.get(service_id)


def run_command(
    services: Mapping[str, Service], service_id: str | None, name: str, params: Any, request_id: str = ""
) -> tuple[CommandResponse, str | None, str | None]:
    """``(response, service_id, failure)``: the answer, the service it concerns and, when the
    command failed, why (to be surfaced as a device error)."""
    service = service_for(services, service_id)
    if service is None:
        reason = f"unknown service {service_id!r} (this device has: {', '.join(services)})"
        return _failed(request_id, reason), service_id, reason
    sid = service.service_id
    spec = service.spec.commands.get(name)
    if spec is None:
        known = ", ".join(service.spec.commands) or "none"
        reason = f"unknown command (known: {known})"
        return _failed(request_id, reason), sid, reason
    try:
        kwargs = spec.parse(params)
    except ValidationError as exc:
        return _failed(request_id, str(exc)), sid, str(exc)
    try:
        result = getattr(service, spec.attr)(**kwargs)
    except Exception as exc:
        reason = f"raised {exc!r}"
        return _failed(request_id, reason), sid, reason
    if result is None:
        result = {}
    if not isinstance(result, Mapping):
        reason = f"returned {type(result).__name__}; a command returns a dict or None"
        return _failed(request_id, reason), sid, reason
    try:
        require_finite(dict(result), "result")
    except InvalidValue as exc:
        reason = f"returned a bad result: {exc}"
        return _failed(request_id, reason), sid, reason
    return CommandResponse(request_id, CODE_OK, dict(result)), sid, None


def _failed(request_id: str, reason: str) -> CommandResponse:
    return CommandResponse(request_id, CODE_FAILED, {"error": reason})
