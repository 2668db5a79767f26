"""Unit-test service classes without a broker: :class:`FakeCloud` (the real device engine and the
real vendor codec, both halves, over an in-memory broker) and the ``fake_cloud`` pytest fixture."""

from .fake_cloud import Ack, CommandResult, FakeCloud, InMemoryBroker

__all__ = ["Ack", "CommandResult", "FakeCloud", "InMemoryBroker"]
