"""AWS IoT Device SDK v1 (AWSIoTPythonSDK, AWSIoTMQTTShadowClient) as an *application*.

Usage: aws_v1_app.py HOST PORT THING. Prints one JSON object per step; exits 0 when every step
behaved as AWS would. The v1 SDK drops responses without its clientToken, so answers arriving
at all prove the token is echoed.
"""

from __future__ import annotations

import json
import queue
import sys
import time
from typing import Any

from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTShadowClient

host, port, thing = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def step(name: str, **facts: Any) -> None:
    print(json.dumps({"step": name, **facts}, default=str), flush=True)


client = AWSIoTMQTTShadowClient(f"v1-app-{int(time.time() * 1000) % 100000}")
client.configureEndpoint(host, port)  # plain TCP: configureCredentials is never called
client.configureConnectDisconnectTimeout(10)
client.configureMQTTOperationTimeout(10)
client.getMQTTConnection().disableMetricsCollection()
client.connect(keepAliveIntervalSecond=30)
handler = client.createShadowHandlerWithName(thing, True)
answers: queue.Queue[tuple[str, dict[str, Any], str]] = queue.Queue()


def callback(payload: str, status: str, token: str) -> None:
    answers.put((status, json.loads(payload) if payload.startswith("{") else {"raw": payload}, token))


def ask(send: Any) -> tuple[str, dict[str, Any], str]:
    token = send()
    status, body, got = answers.get(timeout=15)
    if got != token:
        step("token_mismatch", sent=token, got=got)
        sys.exit(1)
    return status, body, got


status, body, _ = ask(
    lambda: handler.shadowUpdate(json.dumps({"state": {"desired": {"alarm": 1}}}), callback, 10)
)
step("update", status=status, version=body.get("version"))
if status != "accepted":
    sys.exit(1)

deadline = time.monotonic() + 15
while True:
    status, body, _ = ask(lambda: handler.shadowGet(callback, 10))
    state = body.get("state", {})
    if state.get("reported", {}).get("alarm") == 1 and "alarm" not in state.get("delta", {}):
        step("applied", reported=state.get("reported"), delta=state.get("delta"), version=body.get("version"))
        break
    if time.monotonic() > deadline:
        step("timeout", last=body)
        sys.exit(1)
    time.sleep(0.2)
client.disconnect()
step("done")
