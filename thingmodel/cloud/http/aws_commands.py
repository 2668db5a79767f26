"""AWS IoT's *commands*, served on the local cloud's AWS port next to the data plane
(:mod:`.aws`, whose routes and errors they share): ``iot`` CreateCommand / GetCommand /
DeleteCommand (``PUT|GET|DELETE /commands/{id}``) and GetCommandExecution (``GET
/command-executions/{id}``), ``iot-jobs-data`` StartCommandExecution (``POST
/command-executions``) -- so boto3 sends a command and reads the method's result.

With an app key these calls must be signed by SigV4 (:mod:`.aws_sigv4`) for ``iot`` or
``iot-jobs-data``; a request that is not is refused with InvalidSignatureException,
UnrecognizedClientException or MissingAuthenticationTokenException, as AWS IoT's control plane
names them.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from starlette.routing import BaseRoute

from ...errors import InvalidValue
from ...protocol import messages as ev
from ...protocol.jsonwire import dumps
from ...vendors.aws import validate_thing_name
from ..aws import AwsCloud
from .aws import Api, AwsError, Call, Routes, strict_loads, valid
from .aws_sigv4 import MISSING_TOKEN, UNKNOWN_KEY

if TYPE_CHECKING:
    from ..local import LocalCloud
    from .server import AppKey

log = logging.getLogger("thingmodel.cloud.http.aws")

ACCOUNT = "000000000000"
"""The account id in the ARNs the local cloud makes."""
MAX_COMMANDS = 1000
MAX_EXECUTIONS = 10_000
DEFAULT_EXECUTION_TIMEOUT = 10
MAX_EXECUTION_TIMEOUT = 12 * 3600
_COMMAND_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_COMMAND_ARN = re.compile(r"arn:aws[a-z-]*:iot:[^:]*:[^:]*:command/([a-zA-Z0-9_-]{1,64})")
_THING_ARN = re.compile(r"arn:aws[a-z-]*:iot:[^:]*:[^:]*:thing/([^/]+)")
_FAILURES = ("FAILED", "REJECTED", "TIMED_OUT")
PAYLOAD_FORM = '{"command": NAME, "service": SERVICE_ID (optional), "params": {...} (optional)}'


def _control_plane_refusal(message: str) -> str:
    if message == MISSING_TOKEN:
        return "MissingAuthenticationTokenException"
    return "UnrecognizedClientException" if message == UNKNOWN_KEY else "InvalidSignatureException"


_CONTROL_ERRORS = {
    400: "ValidationException",
    402: "ServiceQuotaExceededException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    409: "ConflictException",
    413: "RequestEntityTooLargeException",
    500: "InternalServerException",
}
CONTROL_PLANE = Api(("iot",), _CONTROL_ERRORS, _control_plane_refusal)
"""AWS IoT (``iot``), for its commands calls."""
JOBS_DATA_PLANE = Api(("iot-jobs-data",), _CONTROL_ERRORS, _control_plane_refusal)
"""AWS IoT jobs data (``iot-jobs-data``), for StartCommandExecution."""


@attrs.frozen
class _Command:
    command_id: str
    arn: str
    namespace: str
    content: bytes
    content_type: str
    display_name: str | None
    description: str | None
    created_at: float
    #: what the payload asks of a thingmodel device
    service: str | None
    name: str
    params: Mapping[str, Any]


@attrs.define
class _Execution:
    execution_id: str
    command_arn: str
    target_arn: str
    thing: str
    parameters: dict[str, Any]
    timeout: int
    created_at: float
    client_token: str | None
    status: str = "CREATED"
    result: dict[str, Any] | None = None
    reason: dict[str, str] | None = None
    completed_at: float | None = None


class AwsCommands:
    """AWS IoT's *commands*: CreateCommand, GetCommand and DeleteCommand (``iot``),
    StartCommandExecution (``iot-jobs-data``) and GetCommandExecution (``iot``), run on
    thingmodel devices through the cloud's command channel (AWS's commands topics).

    A command's payload must be the JSON thingmodel's AWS devices run (:data:`PAYLOAD_FORM`);
    StartCommandExecution's ``parameters`` (``{"S"|"B"|"I"|"L"|"D"|"UL"|"BIN": value}``) are
    merged into its ``params`` (AWS fills a ``payloadTemplate`` with them; templates are not
    served). An execution is CREATED until the device answers (SUCCEEDED with its result, or
    FAILED) or its ``executionTimeoutSeconds`` pass (TIMED_OUT, reason
    ``$NO_RESPONSE_FROM_DEVICE``, as AWS sets it). Commands and executions are kept in memory,
    at most :data:`MAX_COMMANDS` and :data:`MAX_EXECUTIONS` (the oldest execution is forgotten).
    ListCommands and ListCommandExecutions are not served.
    """

    def __init__(self, cloud: LocalCloud, key: AppKey | None) -> None:
        if not isinstance(cloud.platform, AwsCloud):
            raise InvalidValue(f"AWS IoT commands need a cloud in AWS mode, not {cloud.vendor!r}")
        self.cloud, self.key = cloud, key
        self.platform: AwsCloud = cloud.platform
        self.clock: Callable[[], float] = self.platform.shadow_service.clock
        self._lock = threading.Lock()
        self.commands: OrderedDict[str, _Command] = OrderedDict()
        self.executions: OrderedDict[str, _Execution] = OrderedDict()
        self._tokens: dict[str, str] = {}  # client token -> the execution it started

    def routes(self) -> list[BaseRoute]:
        r = Routes(self.key, self.clock)
        command = {"PUT": self.create_command, "GET": self.get_command, "DELETE": self.delete_command}
        return [
            r.route("/commands/{commandId}", CONTROL_PLANE, command),
            r.route("/command-executions", JOBS_DATA_PLANE, {"POST": self.start_execution}),
            r.route("/command-executions/{executionId}", CONTROL_PLANE, {"GET": self.get_execution}),
        ]

    # -- commands ------------------------------------------------------------------------------
    def create_command(self, call: Call) -> bytes:
        command_id = _command_id(call.request.path_params["commandId"])
        body = _json_object(call.body)
        namespace = body.get("namespace", "AWS-IoT")
        if namespace != "AWS-IoT":
            raise AwsError(400, f"The local cloud runs commands of the AWS-IoT namespace, not {namespace!r}")
        if body.get("payloadTemplate") is not None:
            raise AwsError(400, "payloadTemplate is not served by the local cloud: give the payload itself")
        payload = body.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
            raise AwsError(400, f"A command needs a payload whose content is {PAYLOAD_FORM}")
        try:
            content = base64.b64decode(payload["content"], validate=True)
        except binascii.Error:
            raise AwsError(400, "The payload's content is not base64") from None
        service, name, params = _command_payload(content)
        content_type = payload.get("contentType") or "application/json"
        if not isinstance(content_type, str):
            raise AwsError(400, "The payload's contentType must be a string")
        arn = f"arn:aws:iot:{call.region}:{ACCOUNT}:command/{command_id}"
        made = _Command(
            command_id,
            arn,
            namespace,
            content,
            content_type,
            _optional_text(body, "displayName"),
            _optional_text(body, "description"),
            self.clock(),
            service,
            name,
            params,
        )
        with self._lock:
            if command_id in self.commands:
                raise AwsError(409, f"A command with id '{command_id}' already exists")
            if len(self.commands) >= MAX_COMMANDS:
                raise AwsError(402, f"The local cloud keeps at most {MAX_COMMANDS} commands")
            self.commands[command_id] = made
        return dumps({"commandId": command_id, "commandArn": arn})

    def get_command(self, call: Call) -> bytes:
        command = self._command(_command_id(call.request.path_params["commandId"]))
        answer: dict[str, Any] = {
            "commandId": command.command_id,
            "commandArn": command.arn,
            "namespace": command.namespace,
            "payload": {
                "content": base64.b64encode(command.content).decode(),
                "contentType": command.content_type,
            },
            "createdAt": command.created_at,
            "lastUpdatedAt": command.created_at,
            "deprecated": False,
            "pendingDeletion": False,
        }
        for key, value in (("displayName", command.display_name), ("description", command.description)):
            if value is not None:
                answer[key] = value
        return dumps(answer)

    def delete_command(self, call: Call) -> bytes:
        command_id = _command_id(call.request.path_params["commandId"])
        with self._lock:
            if self.commands.pop(command_id, None) is None:
                raise AwsError(404, f"No command exists with id '{command_id}'")
        return b"{}"

    def _command(self, command_id: str) -> _Command:
        with self._lock:
            command = self.commands.get(command_id)
        if command is None:
            raise AwsError(404, f"No command exists with id '{command_id}'")
        return command

    # -- executions ----------------------------------------------------------------------------
    def start_execution(self, call: Call) -> bytes:
        body = _json_object(call.body)
        target = body.get("targetArn")
        if not isinstance(target, str) or (found := _THING_ARN.fullmatch(target)) is None:
            raise AwsError(
                400, f"targetArn {target!r} is not a thing's ARN (arn:aws:iot:REGION:ACCOUNT:thing/NAME)"
            )
        thing = valid(validate_thing_name, found.group(1))
        command_arn = body.get("commandArn")
        if not isinstance(command_arn, str) or (named := _COMMAND_ARN.fullmatch(command_arn)) is None:
            raise AwsError(400, f"commandArn {command_arn!r} is not a command's ARN")
        command = self._command(named.group(1))
        parameters = body.get("parameters") or {}
        values = _parameter_values(parameters)
        timeout = body.get("executionTimeoutSeconds", DEFAULT_EXECUTION_TIMEOUT)
        if type(timeout) is not int or not 1 <= timeout <= MAX_EXECUTION_TIMEOUT:
            raise AwsError(400, f"executionTimeoutSeconds must be 1 to {MAX_EXECUTION_TIMEOUT}")
        token = body.get("clientToken")
        if token is not None and not isinstance(token, str):
            raise AwsError(400, "clientToken must be a string")
        with self._lock:
            again = self._same_request(token, target, command_arn, parameters)
            if again is not None:
                return dumps({"executionId": again})
            with self.cloud.turn():
                execution_id = self.platform.command(
                    thing, command.service, command.name, {**command.params, **values}
                )
            self.executions[execution_id] = _Execution(
                execution_id, command_arn, target, thing, parameters, timeout, self.clock(), token
            )
            if token is not None:
                self._tokens[token] = execution_id
            while len(self.executions) > MAX_EXECUTIONS:
                _, old = self.executions.popitem(last=False)
                if old.client_token is not None:
                    self._tokens.pop(old.client_token, None)
                if old.status == "CREATED":
                    with self.cloud.turn():
                        self.platform.forget(old.execution_id)
        log.info("command %s started on %s (execution %s)", command.command_id, thing, execution_id)
        return dumps({"executionId": execution_id})

    def _same_request(self, token: str | None, target: str, command_arn: str, parameters: Any) -> str | None:
        """The execution an earlier request with this client token started; 409 if it differed."""
        execution = self.executions.get(self._tokens.get(token, "")) if token is not None else None
        if execution is None:
            return None
        if (execution.target_arn, execution.command_arn, execution.parameters) != (
            target,
            command_arn,
            parameters,
        ):
            raise AwsError(409, f"clientToken {token!r} was used for a different request")
        return execution.execution_id

    def get_execution(self, call: Call) -> bytes:
        execution_id = call.request.path_params["executionId"]
        target = call.request.query_params.get("targetArn")
        if not target:
            raise AwsError(400, "targetArn is required")
        with self._lock:
            execution = self.executions.get(execution_id)
            if execution is None or target != execution.target_arn:
                raise AwsError(404, f"No command execution exists with id '{execution_id}' on {target}")
            self._settle(execution)
            answer: dict[str, Any] = {
                "executionId": execution.execution_id,
                "commandArn": execution.command_arn,
                "targetArn": execution.target_arn,
                "status": execution.status,
                "executionTimeoutSeconds": execution.timeout,
                "createdAt": execution.created_at,
                "lastUpdatedAt": execution.completed_at or execution.created_at,
            }
            if execution.parameters:
                answer["parameters"] = execution.parameters
            if execution.completed_at is not None:
                answer["completedAt"] = execution.completed_at
            if execution.reason is not None:
                answer["statusReason"] = execution.reason
            if execution.result and call.request.query_params.get("includeResult", "true").lower() != "false":
                answer["result"] = execution.result
        return dumps(answer)

    def _settle(self, execution: _Execution) -> None:
        """Take the device's answer, if it came, or time the execution out."""
        if execution.status != "CREATED":
            return
        with self.cloud.turn():
            answer = self.platform.take_result(execution.execution_id)
            now = self.clock()
            if answer is None and now > execution.created_at + execution.timeout:
                self.platform.forget(execution.execution_id)
        if answer is None:
            if now > execution.created_at + execution.timeout:
                execution.status, execution.completed_at = "TIMED_OUT", now
                execution.reason = {
                    "reasonCode": "$NO_RESPONSE_FROM_DEVICE",
                    "reasonDescription": f"the device did not answer within {execution.timeout} s",
                }
            return
        execution.completed_at = now
        if isinstance(answer, ev.CommandAnswered) and answer.code == 0:
            execution.status = "SUCCEEDED"
            execution.result = _result_map(answer.params)
            return
        params = answer.params if isinstance(answer, ev.CommandAnswered) else {}
        status = params.get("status")
        execution.status = status if status in _FAILURES else "FAILED"
        text = (
            params.get("error") if isinstance(answer, ev.CommandAnswered) else getattr(answer, "reason", "")
        )
        execution.reason = {
            "reasonCode": "COMMAND_FAILED",
            "reasonDescription": str(text or execution.status)[:1024],
        }


def _command_id(value: str) -> str:
    if not _COMMAND_ID.fullmatch(value):
        raise AwsError(400, f"commandId {value[:80]!r} must be 1-64 characters of a-z A-Z 0-9 _ -")
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = strict_loads(body or b"{}")
    except ValueError:
        raise AwsError(400, "The request body is not JSON") from None
    if not isinstance(value, dict):
        raise AwsError(400, "The request body must be a JSON object")
    return value


def _optional_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise AwsError(400, f"{key} must be a string")
    return value


def _command_payload(content: bytes) -> tuple[str | None, str, dict[str, Any]]:
    """(service id, command name, params) of a command payload a thingmodel device runs."""
    try:
        value = strict_loads(content)
    except ValueError:
        value = None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("command"), str)
        or not value["command"]
        or not isinstance(value.get("service", ""), str)
        or not isinstance(value.get("params", {}), dict)
    ):
        raise AwsError(400, f"A command's payload must be {PAYLOAD_FORM}: the JSON thingmodel devices run")
    return value.get("service") or None, value["command"], dict(value.get("params") or {})


def _parameter_values(parameters: Any) -> dict[str, Any]:
    """StartCommandExecution's typed parameters as plain values."""
    if not isinstance(parameters, dict):
        raise AwsError(400, "parameters must be an object of {name: {TYPE: value}}")
    kinds: dict[str, Callable[[Any], bool]] = {
        "S": lambda v: isinstance(v, str),
        "B": lambda v: isinstance(v, bool),
        "I": lambda v: type(v) is int,
        "L": lambda v: type(v) is int,
        "D": lambda v: type(v) in (int, float),
        "UL": lambda v: isinstance(v, str) and v.isdigit(),
        "BIN": lambda v: isinstance(v, str),
    }
    values: dict[str, Any] = {}
    for name, typed in parameters.items():
        if not isinstance(typed, dict) or len(typed) != 1:
            raise AwsError(400, f"parameter {name!r} must be one of {{{', '.join(kinds)}: value}}")
        ((kind, value),) = typed.items()
        check = kinds.get(kind)
        if check is None or not check(value):
            raise AwsError(400, f"parameter {name!r}: {kind!r} does not hold {value!r}")
        values[name] = int(value) if kind == "UL" else value
    return values


def _result_map(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A device's result as GetCommandExecution's ``result``: strings and booleans as such."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[str(key)] = {"B": value}
        elif isinstance(value, str):
            out[str(key)] = {"S": value}
        else:
            out[str(key)] = {"S": dumps(value).decode()}
    return out
