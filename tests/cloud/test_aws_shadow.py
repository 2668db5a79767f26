"""The AWS shadow service's MQTT answers: topics, documents, errors and limits as AWS documents them.

What moto also implements (merge, delta, versions) is compared against moto in
test_aws_shadow_moto.py; this file pins what moto does not: clientTokens, delta and documents
messages, metadata, section nulls, AWS's error codes and texts, limits, bad input, persistence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel.cloud.aws_shadow import AwsShadowService, ShadowError, SqliteDocumentStore

P = "$aws/things/dev1/shadow"
T0 = 1591987920


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> AwsShadowService:
    return AwsShadowService(clock=clock)


def send(service: AwsShadowService, topic: str, body: Any) -> dict[str, Any]:
    """Publish a request; return ``{topic: payload}`` of what the service published."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {m.topic: json.loads(m.payload) for m in service.handle(topic, payload)}


def test_an_accepted_update_echoes_the_request_state_with_metadata_version_and_token(
    service: AwsShadowService,
) -> None:
    out = send(
        service,
        f"{P}/update",
        {"state": {"reported": {"color": "red", "cfg": {"a": 1}}}, "clientToken": "t1"},
    )
    assert out[f"{P}/update/accepted"] == {
        "state": {"reported": {"color": "red", "cfg": {"a": 1}}},
        "metadata": {"reported": {"color": {"timestamp": T0}, "cfg": {"a": {"timestamp": T0}}}},
        "version": 1,
        "timestamp": T0,
        "clientToken": "t1",
    }
    assert f"{P}/update/delta" not in out  # a reported-only update publishes no delta


def test_a_desired_update_publishes_the_delta_with_desired_metadata(
    service: AwsShadowService, clock: Clock
) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"color": "green", "cfg": {"a": 1, "b": 2}}}})
    clock.now += 5
    out = send(
        service,
        f"{P}/update",
        {"state": {"desired": {"color": "red", "cfg": {"a": 1, "b": 3}}}, "clientToken": "t2"},
    )
    assert out[f"{P}/update/delta"] == {
        "state": {"color": "red", "cfg": {"b": 3}},
        "metadata": {"color": {"timestamp": T0 + 5}, "cfg": {"b": {"timestamp": T0 + 5}}},
        "version": 2,
        "timestamp": T0 + 5,
        "clientToken": "t2",
    }


def test_documents_carry_previous_and_current_on_every_update(service: AwsShadowService) -> None:
    first = send(service, f"{P}/update", {"state": {"reported": {"x": 1}}})
    assert "previous" not in first[f"{P}/update/documents"]
    out = send(service, f"{P}/update", {"state": {"reported": {"x": 2}}, "clientToken": "t3"})
    docs = out[f"{P}/update/documents"]
    assert docs["previous"]["state"] == {"reported": {"x": 1}} and docs["previous"]["version"] == 1
    assert docs["current"]["state"] == {"reported": {"x": 2}} and docs["current"]["version"] == 2
    assert docs["clientToken"] == "t3" and "delta" not in docs["current"]["state"]


def test_metadata_is_restamped_only_for_touched_leaves(service: AwsShadowService, clock: Clock) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"a": 1, "b": 2}}})
    clock.now += 10
    send(service, f"{P}/update", {"state": {"reported": {"b": 3}}})
    doc = send(service, f"{P}/get", {})[f"{P}/get/accepted"]
    assert doc["metadata"]["reported"] == {"a": {"timestamp": T0}, "b": {"timestamp": T0 + 10}}


def test_a_null_desired_section_removes_it_and_the_version_still_increases(service: AwsShadowService) -> None:
    send(service, f"{P}/update", {"state": {"desired": {"a": 1}, "reported": {"a": 0}}})
    out = send(service, f"{P}/update", {"state": {"reported": {"a": 1}, "desired": None}})
    assert out[f"{P}/update/accepted"]["state"] == {"reported": {"a": 1}, "desired": None}
    doc = send(service, f"{P}/get", {})[f"{P}/get/accepted"]
    assert doc["state"] == {"reported": {"a": 1}} and doc["version"] == 2


def test_a_null_state_clears_both_sections(service: AwsShadowService) -> None:
    send(service, f"{P}/update", {"state": {"desired": {"a": 1}, "reported": {"a": 0}}})
    send(service, f"{P}/update", {"state": None})
    doc = send(service, f"{P}/get", {})[f"{P}/get/accepted"]
    assert doc["state"] == {} and doc["metadata"] == {} and doc["version"] == 2


def test_an_object_emptied_by_deletions_is_removed(service: AwsShadowService) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"cfg": {"a": 1}, "x": 1}}})
    send(service, f"{P}/update", {"state": {"reported": {"cfg": {"a": None}}}})
    doc = send(service, f"{P}/get", {})[f"{P}/get/accepted"]
    assert doc["state"]["reported"] == {"x": 1} and doc["metadata"]["reported"] == {"x": {"timestamp": T0}}


def test_get_answers_the_reference_document_with_its_delta(service: AwsShadowService) -> None:
    send(
        service, f"{P}/update", {"state": {"desired": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]}}}
    )
    send(service, f"{P}/update", {"state": {"reported": {"color": "GREEN"}}})
    doc = send(service, f"{P}/get", {"clientToken": "UniqueClientToken"})[f"{P}/get/accepted"]
    assert doc["state"] == {
        "desired": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]},
        "reported": {"color": "GREEN"},
        "delta": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]},
    }
    assert doc["metadata"]["desired"]["sequence"] == {"timestamp": T0}  # an array is one leaf
    assert doc["version"] == 2 and doc["clientToken"] == "UniqueClientToken"


def test_delta_is_json_strict_true_is_not_1(service: AwsShadowService) -> None:
    send(
        service, f"{P}/update", {"state": {"desired": {"on": True, "n": 1}, "reported": {"on": 1, "n": 1.0}}}
    )
    doc = send(service, f"{P}/get", {})[f"{P}/get/accepted"]
    assert doc["state"]["delta"] == {"on": True}


def test_delete_keeps_the_version_sequence_and_get_then_404s(service: AwsShadowService) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"a": 1}}})
    out = send(service, f"{P}/delete", {"clientToken": "d1"})
    assert out[f"{P}/delete/accepted"] == {"version": 2, "timestamp": T0, "clientToken": "d1"}
    assert send(service, f"{P}/get", {"clientToken": "g"})[f"{P}/get/rejected"] == {
        "code": 404,
        "message": "No shadow exists with name: 'dev1'",
        "timestamp": T0,
        "clientToken": "g",
    }
    again = send(service, f"{P}/update", {"state": {"reported": {"a": 2}}})
    assert again[f"{P}/update/accepted"]["version"] == 3


def test_named_shadows_are_independent_of_the_classic_one(service: AwsShadowService) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"a": 1}}})
    out = send(service, f"{P}/name/cfg/update", {"state": {"reported": {"b": 1}}})
    assert out[f"{P}/name/cfg/update/accepted"]["version"] == 1
    assert service.shadows("dev1") == [None, "cfg"] and service.things() == ["dev1"]
    missing = send(service, f"{P}/name/other/get", b"")
    assert missing[f"{P}/name/other/get/rejected"]["message"] == "No shadow exists with name: 'other'"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{not json", 400, "Invalid JSON"),
        (b"[1, 2]", 400, "Invalid JSON"),
        ({"clientToken": "t"}, 400, "Missing required node: state"),
        ({"state": 3}, 400, "State node must be an object"),
        ({"state": {"desired": [1]}}, 400, "Desired node must be an object"),
        ({"state": {"reported": "x"}}, 400, "Reported node must be an object"),
        ({"state": {"delta": {"a": 1}}}, 400, "State contains an invalid node: 'delta'"),
        ({"state": {"desired": {"a": 1}}, "version": "1"}, 400, "Invalid version"),
        ({"state": {"desired": {"a": 1}}, "version": 7}, 409, "Version conflict"),
        ({"state": {"desired": {"a": 1}}, "clientToken": "x" * 65}, 400, "Invalid clientToken"),
        ({"state": {"desired": {"a": [1, None]}}}, 400, "Invalid JSON: arrays may not contain null"),
        (
            {"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}},
            400,
            "JSON contains too many levels of nesting; maximum is 6",
        ),
        ({"state": {"reported": {"blob": "x" * 9000}}}, 413, "The payload exceeds the maximum size allowed"),
        (b"\xff\xfe{}", 415, "Unsupported documented encoding; supported encoding is UTF-8"),
    ],
)
def test_a_bad_update_is_rejected_with_awss_code_and_text_and_changes_nothing(
    service: AwsShadowService, body: Any, code: int, message: str
) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"kept": 1}}})
    out = send(service, f"{P}/update", body)
    rejected = out[f"{P}/update/rejected"]
    assert (rejected["code"], rejected["message"]) == (code, message)
    doc = service.get("dev1", None)
    assert doc["state"] == {"reported": {"kept": 1}} and doc["version"] == 1


def test_a_rejection_echoes_the_client_token(service: AwsShadowService) -> None:
    out = send(service, f"{P}/update", {"state": 5, "clientToken": "mine"})
    assert out[f"{P}/update/rejected"]["clientToken"] == "mine"


def test_six_levels_of_nesting_are_allowed(service: AwsShadowService) -> None:
    deep = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    assert f"{P}/update/accepted" in send(service, f"{P}/update", {"state": {"desired": deep}})


@pytest.mark.parametrize("payload", [b"", b"\x00" * 10, b"null", b'{"state":' * 10_000, b"9" * 200_000])
def test_garbage_never_raises_and_is_answered_on_rejected(service: AwsShadowService, payload: bytes) -> None:
    out = service.handle(f"{P}/update", payload)
    assert [m.topic for m in out] == [f"{P}/update/rejected"]


def test_foreign_topics_are_ignored(service: AwsShadowService) -> None:
    assert service.handle("$aws/things/dev1/shadow/update/accepted", b"{}") == []
    assert service.handle("other/topic", b"{}") == []


def test_an_invalid_thing_name_is_refused(service: AwsShadowService) -> None:
    out = send(service, "$aws/things/bad name/shadow/update", {"state": {"reported": {"a": 1}}})
    assert out["$aws/things/bad name/shadow/update/rejected"]["code"] == 400
    with pytest.raises(Exception, match="thing name"):
        service.update("bad name", None, {"state": {}})


def test_the_python_api_publishes_what_an_mqtt_update_would(service: AwsShadowService) -> None:
    send(service, f"{P}/update", {"state": {"reported": {"a": 0}}})
    accepted, out = service.update("dev1", None, {"state": {"desired": {"a": 1}}})
    assert accepted["version"] == 2
    assert [m.topic for m in out] == [f"{P}/update/accepted", f"{P}/update/documents", f"{P}/update/delta"]
    with pytest.raises(ShadowError) as error:
        service.update("dev1", None, {"state": {"desired": {"a": 1}}, "version": 1})
    assert error.value.code == 409


def test_shadows_survive_a_reopen_of_the_sqlite_store(tmp_path: Path) -> None:
    path = str(tmp_path / "aws.sqlite3")
    first = AwsShadowService(SqliteDocumentStore(path))
    first.update("dev1", None, {"state": {"desired": {"a": 1}}})
    first.update("dev1", "cfg", {"state": {"reported": {"b": 2}}})
    first.delete("dev1", "cfg")
    second = AwsShadowService(SqliteDocumentStore(path))
    assert second.get("dev1", None)["state"]["desired"] == {"a": 1}
    accepted, _ = second.update("dev1", "cfg", {"state": {"reported": {"b": 3}}})
    assert accepted["version"] == 3  # 1 update + 1 delete, then this one
