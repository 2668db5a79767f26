"""What each vendor can send is data (its codecs' encoder tables), and docs/vendors.md shows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from thingmodel import CodecError
from thingmodel.protocol import messages as ev
from thingmodel.vendors import VENDORS, device_codec, platform_codec, support_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "vendors.md"


def test_the_support_table_in_docs_vendors_md_is_the_one_the_codecs_generate() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- support-table:begin -->\n(.*?)\n<!-- support-table:end -->", text, re.S)
    assert found is not None, "docs/vendors.md lost its support-table markers"
    assert found.group(1) == support_table()


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_message_missing_from_a_device_codec_s_table_is_refused_naming_the_vendor(vendor: str) -> None:
    device_id = "PRODUCT001.dev" if vendor.startswith("tencent") else "dev"
    codec = device_codec(vendor, device_id=device_id, service_ids=["smokeDetector"])
    missing = [kind for kind in ev.Uplink.__args__ if kind not in codec.encoders.kinds]  # type: ignore[attr-defined]
    for kind in missing:
        message = kind(**_sample(kind))
        with pytest.raises(CodecError, match=rf"has no way to send {kind.__name__}"):
            codec.encode(message)
    assert all(kind in codec.encoders.kinds for kind in (ev.ReportProperties, ev.RequestShadow))


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_platform_codec_can_send_commands(vendor: str) -> None:
    assert ev.SendCommand in platform_codec(vendor).encoders.kinds


def _sample(kind: type) -> dict[str, object]:
    samples: dict[type, dict[str, object]] = {
        ev.AckDesired: {"request_id": "r1"},
        ev.ReadResponse: {"request_id": "r1", "services": {}},
        ev.SendMessage: {"payload": b"hi"},
        ev.EmitEvent: {"service_id": "smokeDetector", "event_type": "alarm"},
        ev.AskTime: {"request_id": "r1", "device_send_ms": 0},
        ev.ReportVersion: {"fw_version": "1.0"},
        ev.UpgradeProgress: {"version": "1.1", "state": "downloading"},
        ev.ReportInfo: {"fw_version": "1.0"},
        ev.ShipLogs: {"entries": (ev.LogEntry(0, "boot"),)},
        ev.AskFileUrl: {"direction": "upload", "file_name": "a.bin"},
        ev.FileResult: {"direction": "upload", "file_name": "a.bin", "code": 0},
        ev.AskRules: {"rule_ids": ("r1",)},
        ev.AddChildren: {"request_id": "r1", "children": (ev.ChildInfo("child-1", "product-1"),)},
        ev.RemoveChildren: {"request_id": "r1", "device_ids": ("child-1",)},
        ev.ChildrenStatus: {"request_id": "r1", "online": {"child-1": True}},
        ev.SyncChildren: {"request_id": "r1"},
    }
    return samples[kind]
