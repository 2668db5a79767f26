"""Presence: online state and last-seen times, bounded."""

from __future__ import annotations

from thingmodel.cloud.presence import Presence


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_device_is_online_from_its_connection_to_its_end_and_keeps_its_last_seen() -> None:
    clock, changes = Clock(), []
    presence = Presence(exact=True, clock=clock, on_change=lambda d, online: changes.append((d, online)))
    presence.connected("d1", "127.0.0.1:5000")
    clock.now = 1005
    presence.heard("d1")
    assert presence.summary("d1") == presence.summaries()[0]
    summary = presence.summary("d1")
    assert summary is not None
    assert (summary.online, summary.connected_at, summary.last_seen) == (True, 1000, 1005)
    clock.now = 1010
    presence.disconnected("d1")
    summary = presence.summary("d1")
    assert summary is not None and (summary.online, summary.last_seen, summary.connected_at) == (
        False,
        1010,
        None,
    )
    assert changes == [("d1", True), ("d1", False)]


def test_a_take_over_keeps_the_device_online_until_its_last_connection_ends() -> None:
    presence = Presence(exact=True)
    presence.connected("d1")
    presence.connected("d1")  # the new connection comes before the old one ends
    presence.disconnected("d1")
    assert presence.is_online("d1") is True
    presence.disconnected("d1")
    assert presence.is_online("d1") is False


def test_with_an_external_broker_online_is_unknown_but_last_seen_is_kept() -> None:
    presence = Presence(exact=False)
    presence.heard("d1")
    summary = presence.summary("d1")
    assert summary is not None and summary.online is None and summary.last_seen is not None
    assert presence.is_online("d1") is None
    assert presence.summary("never") is None


def test_a_device_heard_through_another_clients_connection_is_unknown_not_offline() -> None:
    presence = Presence(exact=True)
    assert presence.is_online("thing") is False  # no connection under its id, nothing heard
    presence.heard("thing")  # an AWS thing's shadow updated by a client with another client id
    summary = presence.summary("thing")
    assert presence.is_online("thing") is None and summary is not None and summary.online is None
    presence.connected("thing")
    presence.disconnected("thing")
    assert presence.is_online("thing") is False  # seen under its own id: exact again


def test_past_its_limit_the_offline_device_heard_from_longest_ago_is_forgotten() -> None:
    presence = Presence(exact=True, max_devices=2)
    presence.connected("online-1")
    presence.heard("old")
    presence.heard("new")
    assert [s.device_id for s in presence.summaries()] == ["online-1", "new"]
