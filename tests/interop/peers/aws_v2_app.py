"""AWS IoT Device SDK v2 (awsiotsdk, IotShadowClientV2) as an *application* against our local cloud.

Usage: aws_v2_app.py HOST PORT THING. Prints one JSON object per step; exits 0 when every step
behaved as AWS would. Runs in its own process (awscrt keeps process-wide state).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

from awscrt import io, mqtt, mqtt_request_response
from awsiot import V2ServiceException, iotshadow

host, port, thing = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def step(name: str, **facts: Any) -> None:
    print(json.dumps({"step": name, **facts}, default=str), flush=True)


client = mqtt.Client(io.ClientBootstrap.get_or_create_static_default(), None)  # plain TCP
conn = mqtt.Connection(
    client=client, host_name=host, port=port, client_id=f"v2-app-{uuid.uuid4().hex[:6]}", clean_session=True
)
conn.connect().result(10)
shadow = iotshadow.IotShadowClientV2(
    conn,
    mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=4, max_streaming_subscriptions=2, operation_timeout_in_seconds=10
    ),
)


def get() -> Any:
    return shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(10)


def wait_until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        doc = get()
        if check(doc):
            return doc
        time.sleep(0.2)
    step("timeout", what=what, last={"desired": doc.state.desired, "reported": doc.state.reported})
    sys.exit(1)


# 1. desire a valid value: the update future resolves (clientToken echoed on /accepted)
token = uuid.uuid4().hex
r = shadow.update_shadow(
    iotshadow.UpdateShadowRequest(
        thing_name=thing, client_token=token, state=iotshadow.ShadowState(desired={"alarm": 1})
    )
).result(10)
step("update_accepted", version=r.version, client_token=r.client_token, desired=r.state.desired)

# 2. the device applies it: reported follows, the delta clears
doc = wait_until(
    lambda d: (d.state.reported or {}).get("alarm") == 1 and "alarm" not in (d.state.delta or {}),
    "reported alarm == 1 and no delta",
)
step("applied", reported=doc.state.reported, delta=doc.state.delta, version=doc.version)

# 3. desire an invalid value: the device refuses, reports its actual value and clears desired
shadow.update_shadow(
    iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(desired={"alarm": 5}))
).result(10)
doc = wait_until(lambda d: "alarm" not in (d.state.desired or {}), "desired alarm cleared by the device")
step("refused", reported=doc.state.reported, desired=doc.state.desired, delta=doc.state.delta)

# 4. a stale version is rejected with 409, the clientToken echoed on /rejected
bad_token = uuid.uuid4().hex
try:
    shadow.update_shadow(
        iotshadow.UpdateShadowRequest(
            thing_name=thing,
            client_token=bad_token,
            version=1,
            state=iotshadow.ShadowState(desired={"alarm": 0}),
        )
    ).result(10)
    step("conflict_not_rejected")
    sys.exit(1)
except V2ServiceException as exc:
    error = exc.modeled_error
    step("rejected", code=error.code, message=error.message, client_token=error.client_token)

# 5. a scratch named shadow: update, get, delete, then get -> 404
scratch = {"thing_name": thing, "shadow_name": "scratch"}
shadow.update_named_shadow(
    iotshadow.UpdateNamedShadowRequest(**scratch, state=iotshadow.ShadowState(reported={"x": [1, 2]}))
).result(10)
g = shadow.get_named_shadow(iotshadow.GetNamedShadowRequest(**scratch)).result(10)
d = shadow.delete_named_shadow(iotshadow.DeleteNamedShadowRequest(**scratch)).result(10)
try:
    shadow.get_named_shadow(iotshadow.GetNamedShadowRequest(**scratch)).result(10)
    missing: Any = None
except V2ServiceException as exc:
    missing = exc.modeled_error.code
step("named", reported=g.state.reported, deleted_version=d.version, get_after_delete=missing)
conn.disconnect().result(10)
step("done")
