"""huaweicloudsdkiotda as an application against the local cloud's IoTDA API (run in its own venv).

    python huawei_app.py ENDPOINT AK SK DEVICE_ID full|refused|read

Prints one JSON line per call: ``{"step", "status_code", "body"}`` with what the SDK returned
(``to_dict()``), or ``{"step", "raised", "status_code", "error_code", "error_msg", "request_id"}``
with what it raised. ``full`` runs the whole tour, ``refused`` a read and a write (for a wrong
key), ``read`` the read alone.
"""

from __future__ import annotations

import decimal
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException
from huaweicloudsdkiotda.v5 import (
    CreateCommandRequest,
    CreateMessageRequest,
    DeviceCommandRequest,
    DeviceMessageRequest,
    DevicePropertiesRequest,
    IoTDAClient,
    ListDevicesRequest,
    ListPropertiesRequest,
    ShowDeviceRequest,
    ShowDeviceShadowRequest,
    UpdateDesired,
    UpdateDesireds,
    UpdateDeviceShadowDesiredDataRequest,
    UpdatePropertiesRequest,
)

SERVICE = "smokeDetector"


def plain(value: Any) -> Any:
    return float(value) if isinstance(value, decimal.Decimal) else str(value)


def emit(step: str, **fields: Any) -> None:
    print(json.dumps({"step": step, **fields}, default=plain), flush=True)


def run(step: str, call: Callable[[], Any]) -> Any:
    try:
        response = call()
    except ServiceResponseException as exc:
        emit(
            step,
            raised=type(exc).__name__,
            status_code=exc.status_code,
            error_code=exc.error_code,
            error_msg=exc.error_msg,
            request_id=exc.request_id,
        )
        return None
    emit(step, status_code=response.status_code, body=response.to_dict())
    return response


def reported(client: IoTDAClient, device_id: str) -> dict[str, Any]:
    shadow = client.show_device_shadow(ShowDeviceShadowRequest(device_id=device_id)).shadow or []
    for service in shadow:
        if service.service_id == SERVICE:
            return dict(service.reported.properties or {})
    return {}


def wait_reported(client: IoTDAClient, device_id: str, name: str, value: Any) -> None:
    deadline = time.monotonic() + 15
    while reported(client, device_id).get(name) != value and time.monotonic() < deadline:
        time.sleep(0.1)


def desire(device_id: str, desired: Any, version: int | None = None) -> UpdateDeviceShadowDesiredDataRequest:
    body = UpdateDesireds(shadow=[UpdateDesired(service_id=SERVICE, desired=desired, version=version)])
    return UpdateDeviceShadowDesiredDataRequest(device_id=device_id, body=body)


def main() -> None:
    endpoint, ak, sk, device_id, mode = sys.argv[1:6]
    client = (
        IoTDAClient.new_builder()
        .with_credentials(BasicCredentials(ak, sk, "0123456789abcdef0123456789abcdef"))
        .with_endpoint(endpoint)
        .build()
    )
    show = ShowDeviceShadowRequest(device_id=device_id)
    run("show_shadow", lambda: client.show_device_shadow(show))
    if mode == "read":
        return
    if mode == "refused":
        run(
            "update_desired",
            lambda: client.update_device_shadow_desired_data(desire(device_id, {"alarm": 1})),
        )
        return
    run("update_desired", lambda: client.update_device_shadow_desired_data(desire(device_id, {"alarm": 1})))
    wait_reported(client, device_id, "alarm", 1)
    run("after_desired", lambda: client.show_device_shadow(show))
    write = DevicePropertiesRequest(services=[{"service_id": SERVICE, "properties": {"alarm": 0}}])
    run("update_properties", lambda: client.update_properties(UpdatePropertiesRequest(device_id, body=write)))
    wait_reported(client, device_id, "alarm", 0)
    run("after_properties", lambda: client.show_device_shadow(show))
    read = ListPropertiesRequest(device_id=device_id, service_id=SERVICE)
    run("list_properties", lambda: client.list_properties(read))
    command = DeviceCommandRequest(service_id=SERVICE, command_name="ringAlarm", paras={"duration": 3})
    run("create_command", lambda: client.create_command(CreateCommandRequest(device_id, body=command)))
    message = DeviceMessageRequest(message_id="sdk-msg-1", name="hello", message={"text": "hi"})
    run("create_message", lambda: client.create_message(CreateMessageRequest(device_id, body=message)))
    run("list_devices", lambda: client.list_devices(ListDevicesRequest(limit=50)))
    run("show_device", lambda: client.show_device(ShowDeviceRequest(device_id=device_id)))
    unknown = ShowDeviceShadowRequest(device_id="no-such-device")
    run("unknown_device", lambda: client.show_device_shadow(unknown))
    # the SDK sends what it is given: a desired that is no object is a malformed body
    run("malformed", lambda: client.update_device_shadow_desired_data(desire(device_id, "not-an-object")))
    run(
        "stale_version",
        lambda: client.update_device_shadow_desired_data(desire(device_id, {"alarm": 1}, 9999)),
    )


if __name__ == "__main__":
    main()
