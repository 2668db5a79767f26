"""The feed: recent entries and watchers, bounded both ways."""

from __future__ import annotations

import threading

from thingmodel.cloud.feed import PREVIEW, Feed


def test_a_watcher_gets_the_entries_about_its_device_in_order() -> None:
    feed = Feed(clock=lambda: 5.0)
    mine, everyone = feed.watch("d1"), feed.watch()
    feed.add("up", "d1", "t/1", b'{"a":1}')
    feed.add("down", "d2", "t/2", b"x")
    feed.add("online", "d1")
    assert [(e.kind, e.topic, e.payload) for e in mine.take()] == [
        ("up", "t/1", '{"a":1}'),
        ("online", "", ""),
    ]
    assert [e.device_id for e in everyone.take()] == ["d1", "d2", "d1"]
    assert [e.seq for e in feed.recent()] == [1, 2, 3]


def test_a_slow_watcher_loses_its_oldest_entries_and_counts_them() -> None:
    feed = Feed(backlog=3)
    watcher = feed.watch()
    for n in range(5):
        feed.add("up", "d", f"t/{n}")
    assert [e.topic for e in watcher.take()] == ["t/2", "t/3", "t/4"]
    assert watcher.missed == 2


def test_history_is_bounded_and_shadow_news_is_not_kept() -> None:
    feed = Feed(history=2)
    for n in range(3):
        feed.add("up", "d", f"t/{n}")
    feed.add("shadow", "d", remember=False)
    assert [e.topic for e in feed.recent()] == ["t/1", "t/2"]


def test_a_long_payload_is_cut_and_its_size_kept() -> None:
    feed = Feed()
    entry = feed.add("up", "d", "t", b"x" * (PREVIEW + 10))
    assert entry.size == PREVIEW + 10 and entry.payload == "x" * PREVIEW + "…"


def test_wake_is_called_for_each_entry_and_a_closed_watcher_gets_no_more() -> None:
    feed = Feed()
    woken = threading.Event()
    watcher = feed.watch(wake=woken.set)
    feed.add("up", "d", "t")
    assert woken.is_set()
    watcher.close()
    feed.add("up", "d", "t2")
    assert [e.topic for e in watcher.take()] == ["t"]
