"""AWS IoT Device SDK v2 as a *device*: it follows its delta stream and reports what it applied.

Usage: aws_v2_device.py HOST PORT THING SECONDS. Reports {"alarm": 0} at start, then for every
delta reports the delta's values (the usual device loop); prints each delta it saw; exits after
SECONDS.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

from awscrt import io, mqtt, mqtt_request_response
from awsiot import ServiceStreamOptions, iotshadow

host, port, thing, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])


def step(name: str, **facts: Any) -> None:
    print(json.dumps({"step": name, **facts}, default=str), flush=True)


client = mqtt.Client(io.ClientBootstrap.get_or_create_static_default(), None)
conn = mqtt.Connection(
    client=client, host_name=host, port=port, client_id=f"v2-dev-{uuid.uuid4().hex[:6]}", clean_session=True
)
conn.connect().result(10)
shadow = iotshadow.IotShadowClientV2(
    conn,
    mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=3, max_streaming_subscriptions=2, operation_timeout_in_seconds=10
    ),
)


def report(values: dict[str, Any]) -> None:
    shadow.update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(reported=values))
    ).result(10)


def on_delta(event: Any) -> None:
    step("delta", state=event.state, version=event.version)
    shadow.update_shadow(  # not waited for: never block the SDK's event thread
        iotshadow.UpdateShadowRequest(
            thing_name=thing, state=iotshadow.ShadowState(reported=dict(event.state))
        )
    )


stream = shadow.create_shadow_delta_updated_stream(
    iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing),
    ServiceStreamOptions(incoming_event_listener=on_delta),
)
stream.open()
time.sleep(0.5)  # the stream's subscription is made asynchronously
report({"alarm": 0})
step("ready")
time.sleep(seconds)
conn.disconnect().result(10)
step("done")
