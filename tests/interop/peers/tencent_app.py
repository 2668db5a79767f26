"""Tencent's application SDKs as a peer: tencentcloud-sdk-python-iotexplorer and -iotcloud.

Run in their own venv (tests/interop/test_tencent_app_sdk.py makes it):

    python tencent_app.py

It prints ``{"ready": true}``, then reads one JSON request a line on stdin,
``{"endpoint": "127.0.0.1:PORT", "product": "explorer" | "hub-2021" | "hub-2018", "action": "...",
"params": {...}, "key": [secret_id, secret_key]}``, makes that call with the SDK's own client and
request model, and prints one JSON line for each: ``{"ok": true, "response": {...}}`` with the fields of the
response model the SDK returned, or ``{"ok": false, "class": ..., "code": ..., "message": ...,
"request_id": ...}`` for what it raised. It ends when stdin closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.iotcloud.v20180614 import iotcloud_client as hub2018_client
from tencentcloud.iotcloud.v20180614 import models as hub2018_models
from tencentcloud.iotcloud.v20210408 import iotcloud_client as hub2021_client
from tencentcloud.iotcloud.v20210408 import models as hub2021_models
from tencentcloud.iotexplorer.v20190423 import iotexplorer_client
from tencentcloud.iotexplorer.v20190423 import models as explorer_models

PRODUCTS: dict[str, tuple[Any, Any]] = {
    "explorer": (iotexplorer_client.IotexplorerClient, explorer_models),
    "hub-2021": (hub2021_client.IotcloudClient, hub2021_models),
    "hub-2018": (hub2018_client.IotcloudClient, hub2018_models),
}


def call(request: dict[str, Any]) -> dict[str, Any]:
    client_class, models = PRODUCTS[request["product"]]
    secret_id, secret_key = request["key"]
    profile = ClientProfile(
        httpProfile=HttpProfile(protocol="http", endpoint=request["endpoint"], reqTimeout=30)
    )
    client = client_class(credential.Credential(secret_id, secret_key), "ap-guangzhou", profile)
    action = request["action"]
    model = getattr(models, f"{action}Request")()
    model.from_json_string(json.dumps(request["params"]))
    try:
        response = getattr(client, action)(model)
    except TencentCloudSDKException as exc:
        return {
            "ok": False,
            "class": type(exc).__name__,
            "code": exc.get_code(),
            "message": exc.get_message(),
            "request_id": exc.get_request_id(),
        }
    return {"ok": True, "class": type(response).__name__, "response": json.loads(response.to_json_string())}


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(call(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
