"""boto3's ``iot-data`` client as an application against our local cloud's AWS data plane.

Usage: boto3_app.py ENDPOINT THING KEY_ID SECRET. Runs under boto3's own venv; talks only HTTP
to ENDPOINT, signing with KEY_ID/SECRET as boto3 does. It prints one JSON line per call
(``step``): ``result`` is what boto3 returned (a shadow's payload decoded from JSON), or
``error`` / ``code`` / ``message`` / ``status`` what it raised (the exception's class name and
its error code). In order:

- ``get``: the thing's ``smokeDetector`` shadow (the device's report);
- ``update``: desired ``alarm = 1`` there (``clientToken`` boto3-1);
- ``applied``: the shadow once the device reported ``alarm = 1`` and no delta is left (polled,
  at most 15 s; ``polls`` says how many gets it took);
- ``pages``: every page of list_named_shadows_for_thing with pageSize=1;
- ``publish``: one message on ``app/boto3`` (QoS 1);
- ``scratch`` / ``deleted`` / ``after_delete``: a named shadow made, deleted, then read;
- ``not_found``, ``conflict``, ``malformed``, ``too_large``: an unknown thing, a stale version,
  a body that is not JSON, a body over 128 KB;
- ``wrong_secret``, ``unknown_key``: the same get signed with a wrong secret, and by a key id
  the cloud does not know;
- ``command_created``, ``command_started``, ``command_done``: AWS IoT's commands -- ``iot``
  create_command (the payload thingmodel devices run: ringAlarm of smokeDetector), then
  ``iot-jobs-data`` start_command_execution on the thing with ``duration`` 5, then ``iot``
  get_command_execution polled until it is no longer CREATED (at most 15 s);
- ``command_unknown``: start_command_execution of a command that does not exist;

then ``done``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, thing, key_id, secret = sys.argv[1:5]
REGION = "eu-central-1"
# no retries: each answer is the first one the cloud gave
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15)


def client(key: str = key_id, password: str = secret, service: str = "iot-data") -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=password,
        config=CONFIG,
    )


def step(name: str, **facts: Any) -> None:
    sys.stdout.write(json.dumps({"step": name, **facts}, default=str) + "\n")
    sys.stdout.flush()


def call(name: str, operation: Callable[[], Any]) -> Any:
    """Run one boto3 call and print what it returned or raised."""
    try:
        result = operation()
    except ClientError as exc:
        step(
            name,
            error=type(exc).__name__,
            code=exc.response["Error"]["Code"],
            message=exc.response["Error"]["Message"],
            status=exc.response["ResponseMetadata"]["HTTPStatusCode"],
        )
        return None
    if isinstance(result, dict):
        result = {k: v for k, v in result.items() if k != "ResponseMetadata"}
        if "payload" in result:
            result["payload"] = json.loads(result["payload"].read())
    step(name, result=result)
    return result


iot = client()
SHADOW = "smokeDetector"

call("get", lambda: iot.get_thing_shadow(thingName=thing, shadowName=SHADOW))
desired = {"state": {"desired": {"alarm": 1}}, "clientToken": "boto3-1"}
call(
    "update", lambda: iot.update_thing_shadow(thingName=thing, shadowName=SHADOW, payload=json.dumps(desired))
)

deadline, polls, doc = time.monotonic() + 15, 0, None
while time.monotonic() < deadline:
    polls += 1
    doc = json.loads(iot.get_thing_shadow(thingName=thing, shadowName=SHADOW)["payload"].read())
    state = doc["state"]
    if state.get("reported", {}).get("alarm") == 1 and "delta" not in state:
        break
    time.sleep(0.05)
step("applied", result=doc, polls=polls)

pages, token = [], None
while len(pages) < 20:
    kwargs: dict[str, Any] = {"thingName": thing, "pageSize": 1}
    if token is not None:
        kwargs["nextToken"] = token
    page = iot.list_named_shadows_for_thing(**kwargs)
    pages.append(
        {"results": page["results"], "nextToken": page.get("nextToken"), "timestamp": page["timestamp"]}
    )
    token = page.get("nextToken")
    if token is None:
        break
step("pages", result=pages)

call("publish", lambda: iot.publish(topic="app/boto3", qos=1, payload=b"hello from boto3"))

scratch = {"state": {"reported": {"x": [1, 2]}}}
call(
    "scratch",
    lambda: iot.update_thing_shadow(thingName=thing, shadowName="scratch", payload=json.dumps(scratch)),
)
call("deleted", lambda: iot.delete_thing_shadow(thingName=thing, shadowName="scratch"))
call("after_delete", lambda: iot.get_thing_shadow(thingName=thing, shadowName="scratch"))

call("not_found", lambda: iot.get_thing_shadow(thingName="no-such-thing"))
stale = {"state": {"desired": {"alarm": 0}}, "version": 1}
call(
    "conflict", lambda: iot.update_thing_shadow(thingName=thing, shadowName=SHADOW, payload=json.dumps(stale))
)
call("malformed", lambda: iot.update_thing_shadow(thingName=thing, shadowName=SHADOW, payload=b"{not json"))
call("too_large", lambda: iot.update_thing_shadow(thingName=thing, payload=b" " * (128 * 1024 + 1)))

call(
    "wrong_secret",
    lambda: client(password=secret + "-wrong").get_thing_shadow(thingName=thing, shadowName=SHADOW),
)
call(
    "unknown_key", lambda: client(key="AKIDNOTTHECLOUDS").get_thing_shadow(thingName=thing, shadowName=SHADOW)
)

control = client(service="iot")
jobs = client(service="iot-jobs-data")
ring = {"service": "smokeDetector", "command": "ringAlarm", "params": {"duration": 3}}
command = call(
    "command_created",
    lambda: control.create_command(
        commandId="ringAlarm",
        namespace="AWS-IoT",
        payload={"content": json.dumps(ring).encode(), "contentType": "application/json"},
    ),
)
target = f"arn:aws:iot:{REGION}:123456789012:thing/{thing}"
started = call(
    "command_started",
    lambda: jobs.start_command_execution(
        targetArn=target, commandArn=command["commandArn"], parameters={"duration": {"L": 5}}
    ),
)
deadline, polls, execution = time.monotonic() + 15, 0, None
while time.monotonic() < deadline:
    polls += 1
    execution = control.get_command_execution(executionId=started["executionId"], targetArn=target)
    if execution["status"] != "CREATED":
        break
    time.sleep(0.05)
step(
    "command_done",
    result={k: v for k, v in (execution or {}).items() if k != "ResponseMetadata"},
    polls=polls,
)
unknown = f"arn:aws:iot:{REGION}:123456789012:command/no-such-command"
call("command_unknown", lambda: jobs.start_command_execution(targetArn=target, commandArn=unknown))
step("done")
