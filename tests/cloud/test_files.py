"""Devices' files on the cloud side without a broker: the store (bounds, persistence), transfer
tokens (scope, expiry, what is kept of them), the URL answer to a Huawei ``$file_manager``
request, and the feed's hiding of tokens."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel.cloud import ShadowCloud
from thingmodel.cloud.files import (
    FileService,
    FileStore,
    Tokens,
    TooLarge,
    new_token,
    redact,
    validate_file_name,
)
from thingmodel.errors import InvalidValue
from thingmodel.protocol import messages as ev
from thingmodel.vendors import platform_codec


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_file_is_kept_per_device_by_name_and_a_second_put_replaces_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    stored = store.put("dev-1", "logs/today.txt", b"one")
    assert (stored.size, stored.sha256) == (3, hashlib.sha256(b"one").hexdigest())
    store.put("dev-1", "logs/today.txt", b"two!")
    store.put("dev-2", "logs/today.txt", b"other")
    assert store.read("dev-1", "logs/today.txt") == b"two!"
    assert [f.name for f in store.listing("dev-1")] == ["logs/today.txt"]
    assert store.read("dev-1", "nothing") is None and store.info("dev-3", "logs/today.txt") is None
    assert len(list(tmp_path.glob("*.bin"))) == 2  # the replaced blob is gone


def test_the_store_keeps_the_newest_files_per_device_and_in_all(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_files_per_device=2, max_bytes=10)
    for n in range(3):
        store.put("dev-1", f"f{n}", b"x")
    assert [f.name for f in store.listing("dev-1")] == ["f1", "f2"]
    store.put("dev-2", "big", b"y" * 9)  # 11 bytes in all: the oldest go
    assert store.size == 10 and store.read("dev-2", "big") == b"y" * 9
    assert [f.name for f in store.listing("dev-1")] == ["f2"]


def test_a_file_over_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_file_bytes=4)
    with pytest.raises(TooLarge, match="over the limit of 4 bytes"):
        store.put("dev-1", "f", b"12345")
    assert store.listing("dev-1") == [] and list(tmp_path.iterdir()) == []


def test_files_survive_a_restart_in_a_named_directory(tmp_path: Path) -> None:
    FileStore(tmp_path).put("dev-1", "a.txt", b"kept", source="device")
    again = FileStore(tmp_path)
    [stored] = again.listing("dev-1")
    assert (stored.name, stored.source, again.read("dev-1", "a.txt")) == ("a.txt", "device", b"kept")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "1..255 bytes"),
        ("x" * 256, "1..255 bytes"),
        ("a/../b", "'.' or '..'"),
        ("/abs", "empty"),
        ("a//b", "empty"),
        ("bad\x00name", "control character"),
        ("a\\b", "backslash"),
        (3, "must be a string"),
    ],
)
def test_a_bad_file_name_is_refused_naming_why(name: Any, why: str) -> None:
    with pytest.raises(InvalidValue, match=why.replace(".", r"\.")):
        validate_file_name(name)


def test_names_with_levels_and_any_script_are_fine() -> None:
    assert validate_file_name("logs/2026/设备日志 1.txt") == "logs/2026/设备日志 1.txt"


def test_a_token_is_good_for_its_scope_until_it_expires_or_is_revoked() -> None:
    clock = Clock()
    tokens = Tokens(clock=clock)
    token = tokens.issue(("download", "dev-1", "a"), 10)
    assert token.startswith("tmtok_") and len(token) == 38
    assert tokens.scope(token) == ("download", "dev-1", "a")
    assert tokens.scope("tmtok_wrong") is None and tokens.scope(None) is None
    clock.now += 11
    assert tokens.scope(token) is None
    again = tokens.issue(("package", "p", "t"), 10)
    assert tokens.revoke_where(lambda s: s[0] == "package") == 1 and tokens.scope(again) is None


def test_tokens_are_bounded_and_only_their_digests_are_kept() -> None:
    tokens = Tokens(max_tokens=3)
    issued = [tokens.issue(("upload", "d", str(n)), 60) for n in range(5)]
    assert len(tokens) == 3 and tokens.scope(issued[0]) is None and tokens.scope(issued[4]) is not None
    kept = repr(vars(tokens)).encode()
    assert not any(t.encode() in kept or t[6:].encode() in kept for t in issued)


def test_new_tokens_differ() -> None:
    assert len({new_token() for _ in range(1000)}) == 1000


def test_redact_hides_every_token_and_leaves_the_rest() -> None:
    payload = json.dumps({"url": "http://h/p?token=tmtok_AbC-1_x", "access_token": "tmtok_zzz"}).encode()
    shown = redact(payload)
    assert b"AbC" not in shown and b"zzz" not in shown
    assert json.loads(shown) == {"url": "http://h/p?token=tmtok_***", "access_token": "tmtok_***"}
    assert redact(b"plain") == b"plain"


def test_a_url_request_gets_a_url_with_a_token_for_that_device_name_and_direction(tmp_path: Path) -> None:
    tokens = Tokens()
    service = FileService(FileStore(tmp_path), lambda: "http://127.0.0.1:9", tokens, expires=600)
    answer = service.answer(ev.FileUrlRequested("dev 1", "upload", "logs/a b.txt", {"size": 3}))
    assert isinstance(answer, ev.AnswerFileUrl)
    assert answer.url.startswith("http://127.0.0.1:9/thingmodel/v1/files/dev%201/logs/a%20b.txt?token=tmtok_")
    assert (answer.expires, answer.file_name, dict(answer.attributes)) == (600, "logs/a b.txt", {"size": 3})
    token = answer.url.rsplit("=", 1)[1]
    assert service.allowed(token, "upload", "dev 1", "logs/a b.txt")
    assert not service.allowed(token, "download", "dev 1", "logs/a b.txt")
    assert not service.allowed(token, "upload", "dev 2", "logs/a b.txt")


def test_without_an_http_server_or_with_a_bad_name_there_is_no_url_and_the_reason_says_why(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    none = FileService(store, lambda: None, Tokens()).answer(ev.FileUrlRequested("d", "upload", "a"))
    assert none == "this cloud has no HTTP server to transfer files (start it with an HTTP port)"
    bad = FileService(store, lambda: "http://h", Tokens()).answer(ev.FileUrlRequested("d", "upload", ".."))
    assert isinstance(bad, str) and "'.' or '..'" in bad


def huawei_files(event_type: str, paras: dict[str, Any]) -> bytes:
    body = {"services": [{"service_id": "$file_manager", "event_type": event_type, "paras": paras}]}
    return json.dumps(body).encode()


def test_the_huawei_platform_answers_a_url_request_and_keeps_the_transfer_result(tmp_path: Path) -> None:
    published: list[ev.Outgoing] = []
    cloud = ShadowCloud(platform_codec("huawei"), published.append)
    service = FileService(FileStore(tmp_path), lambda: "http://127.0.0.1:9", Tokens())
    cloud.file_urls = service.answer
    up = "$oc/devices/dev-1/sys/events/up"
    cloud.receive(up, huawei_files("get_upload_url", {"file_name": "a.txt", "file_attributes": {"size": 3}}))
    [message] = published
    [answer] = json.loads(message.payload)["services"]
    assert (message.topic, answer["event_type"]) == (
        "$oc/devices/dev-1/sys/events/down",
        "get_upload_url_response",
    )
    assert answer["paras"]["url"].startswith(
        "http://127.0.0.1:9/thingmodel/v1/files/dev-1/a.txt?token=tmtok_"
    )
    assert answer["paras"]["object_name"] == "a.txt"
    result = {"object_name": "a.txt", "result_code": 0, "status_code": 200, "status_description": "ok"}
    cloud.receive(up, huawei_files("upload_result_report", result))
    [kept] = cloud.activity("dev-1").files
    assert (kept.direction, kept.file_name, kept.code, kept.status_code) == ("upload", "a.txt", 0, 200)


def test_a_url_request_to_a_cloud_without_a_file_service_is_logged_not_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    published: list[ev.Outgoing] = []
    cloud = ShadowCloud(platform_codec("huawei"), published.append)
    cloud.receive("$oc/devices/dev-1/sys/events/up", huawei_files("get_download_url", {"file_name": "a"}))
    assert published == []
    assert "this cloud serves no files" in caplog.text
