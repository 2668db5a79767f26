"""Each vendor names the device a topic is about (the cloud's feed and presence use it)."""

from __future__ import annotations

import pytest

from thingmodel.vendors import aws, huawei, tencent


@pytest.mark.parametrize(
    ("module", "topic", "device"),
    [
        (huawei, "$oc/devices/d-1/sys/properties/report", "d-1"),
        (huawei, "$oc/devices//sys/x", None),
        (huawei, "other/topic", None),
        (aws, "$aws/things/t1/shadow/update", "t1"),
        (aws, "$aws/commands/things/t1/executions/e/request/json", "t1"),
        (aws, "$aws/rules/x", None),
        (tencent, "$thing/up/property/ABCDEFGHIJ/dev", "ABCDEFGHIJ.dev"),
        (tencent, "$shadow/operation/result/ABCDEFGHIJ/dev", "ABCDEFGHIJ.dev"),
        (tencent, "ABCDEFGHIJ/dev/data", "ABCDEFGHIJ.dev"),
        (tencent, "$thing/up/property/notaproduct/dev", None),
    ],
)
def test_the_device_of_a_topic(module: object, topic: str, device: str | None) -> None:
    assert module.topic_device(topic) == device  # type: ignore[attr-defined]
