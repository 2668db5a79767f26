"""``InMemoryBroker``: MQTT topic matching and in-order delivery, in memory, without threads."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ..protocol.messages import Outgoing
from ..protocol.topics import topic_matches, validate_filter

Handler = Callable[[str, bytes], None]


class InMemoryBroker:
    """Delivers publishes to matching subscriptions, in order, without threads.

    A publish made while a delivery is running is queued and delivered after it, as a broker
    would, so handlers never re-enter each other.
    """

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Handler]] = []
        self._queue: deque[Outgoing] = deque()
        self._delivering = False
        #: every message published, in order
        self.published: list[Outgoing] = []

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        self._subscriptions.append((validate_filter(topic_filter), handler))

    def unsubscribe(self, handler: Handler) -> None:
        self._subscriptions = [(f, h) for f, h in self._subscriptions if h is not handler]

    def publish(self, message: Outgoing) -> None:
        if "+" in message.topic or "#" in message.topic:
            raise ValueError(f"cannot publish to a topic with wildcards: {message.topic!r}")
        self.published.append(message)
        self._queue.append(message)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                current = self._queue.popleft()
                for topic_filter, handler in list(self._subscriptions):
                    if topic_matches(topic_filter, current.topic):
                        handler(current.topic, current.payload)
        finally:
            self._delivering = False
            self._queue.clear()
