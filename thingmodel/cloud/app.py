"""What an application's requests come to: the book of requests waiting for a device, and how
each answer reads.

:class:`~thingmodel.cloud.shadows.ShadowCloud` and :class:`~thingmodel.cloud.aws.AwsCloud` keep
their requests and answers in a :class:`RequestBook`; :class:`~thingmodel.cloud.LocalCloud` (the
application core the CLI, the console and the vendors' HTTP dialects call) and
:class:`~thingmodel.testing.FakeCloud` turn answers into outcomes with :func:`desire_outcome` and
:func:`command_outcome`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from ..protocol import messages as ms

log = logging.getLogger("thingmodel.cloud")

Result = ms.DesiredAcked | ms.CommandAnswered | ms.ReadAnswered | ms.DeviceMalformed
"""What a device answers to a request (a malformed answer included)."""


# --- outcomes -------------------------------------------------------------------------------------
@attrs.frozen
class DesireOutcome:
    """How a write went: ``ok``; ``errors`` per refused property; ``pending`` when the device did
    not answer (in time, or because it is offline): the value waits in the shadow and is applied
    when the device connects."""

    ok: bool
    errors: Mapping[str, str]
    request_id: str
    pending: bool = False


@attrs.frozen
class CommandOutcome:
    """A command's answer: ``code`` 0 is success, ``params`` the command's result (or
    ``{"error": reason}``); ``timed_out`` when the device did not answer."""

    code: int
    params: Mapping[str, Any]
    request_id: str
    name: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out

    @property
    def paras(self) -> Mapping[str, Any]:
        """The earlier name of :attr:`params` (Huawei's word for them)."""
        return self.params


def reason_of(result: Result) -> str:
    """A person's reading of an answer that is not the one asked for."""
    return getattr(result, "reason", None) or repr(result)


def desire_outcome(request_id: str, result: Result | None) -> DesireOutcome:
    """The outcome of a desire from the device's answer (None: no answer yet)."""
    if result is None:
        return DesireOutcome(False, {}, request_id, pending=True)
    if isinstance(result, ms.DesiredAcked):
        errors = dict(result.errors) or ({} if result.ok else {"result": f"result code {result.code}"})
        return DesireOutcome(result.ok, errors, request_id)
    return DesireOutcome(False, {"payload": reason_of(result)}, request_id)


def command_outcome(request_id: str, result: Result | None, *, silence: str) -> CommandOutcome:
    """The outcome of a command from the device's answer; ``silence`` says why there is none."""
    if result is None:
        return CommandOutcome(-1, {"error": silence}, request_id, timed_out=True)
    if isinstance(result, ms.CommandAnswered):
        return CommandOutcome(result.code, dict(result.params), request_id, result.name)
    return CommandOutcome(-1, {"error": reason_of(result)}, request_id)


# --- the book of requests -------------------------------------------------------------------------
P = TypeVar("P")


class RequestBook(Generic[P]):
    """Requests waiting for a device's answer (``pending``, with what the cloud needs to settle
    each), the answers by request id, and the recent malformed uplinks. Every part is bounded:
    past its limit the oldest entry is forgotten (and a forgotten request logged).

    Not thread-safe on its own: the clouds call it under their lock.
    """

    def __init__(
        self,
        *,
        max_pending: int = 10_000,
        max_results: int = 10_000,
        max_problems: int = 1000,
        on_result: Callable[[str, Result], None] | None = None,
    ) -> None:
        self.pending: OrderedDict[str, P] = OrderedDict()
        self.results: OrderedDict[str, Result] = OrderedDict()
        self.problems: deque[ms.DeviceMalformed] = deque(maxlen=max_problems)
        self.max_pending = max_pending
        self.max_results = max_results
        self.on_result = on_result

    def open(self, request_id: str, pending: P) -> None:
        """Wait for an answer to ``request_id``."""
        self.pending[request_id] = pending
        while len(self.pending) > self.max_pending:
            old, _ = self.pending.popitem(last=False)
            log.warning("too many requests waiting for devices (%d): forgot %s", self.max_pending, old)

    def close(self, request_id: str) -> P | None:
        """Stop waiting for ``request_id``; what was kept for it (None if nothing waited)."""
        return self.pending.pop(request_id, None)

    def answer(self, request_id: str, result: Result) -> None:
        """Record the answer to a request and tell ``on_result``."""
        self.results[request_id] = result
        while len(self.results) > self.max_results:
            self.results.popitem(last=False)
        if self.on_result is not None:
            self.on_result(request_id, result)

    def result(self, request_id: str) -> Result | None:
        return self.results.get(request_id)

    def take(self, request_id: str) -> Result | None:
        return self.results.pop(request_id, None)

    def problem(self, event: ms.DeviceMalformed) -> None:
        self.problems.append(event)
