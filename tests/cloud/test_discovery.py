"""Discovery: the running cloud's record, and the order the CLI looks in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thingmodel.cloud import discovery


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("THINGMODEL_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("THINGMODEL_CLOUD", raising=False)
    return tmp_path


def test_a_recorded_cloud_is_found_until_it_forgets_itself() -> None:
    discovery.record(vendor="aws", mqtt_url="mqtt://127.0.0.1:1", http_url="http://127.0.0.1:2")
    found = discovery.find()
    assert found is not None and (found["vendor"], found["http_url"]) == ("aws", "http://127.0.0.1:2")
    assert discovery.cloud_url() == "http://127.0.0.1:2"
    discovery.forget()
    assert discovery.find() is None and discovery.cloud_url() == discovery.DEFAULT_URL


def test_a_record_whose_process_is_gone_is_ignored(state: Path) -> None:
    (state / "cloud.json").write_text(
        json.dumps({"vendor": "aws", "mqtt_url": "m", "http_url": "h", "pid": 2**22 + 12345})
    )
    assert discovery.find() is None


def test_a_broken_record_is_ignored(state: Path) -> None:
    (state / "cloud.json").write_text("{not json")
    assert discovery.find() is None


def test_the_flag_beats_the_environment_which_beats_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    discovery.record(vendor="aws", mqtt_url="m", http_url="http://recorded")
    monkeypatch.setenv("THINGMODEL_CLOUD", "http://from-env")
    assert discovery.cloud_url("http://given") == "http://given"
    assert discovery.cloud_url() == "http://from-env"
