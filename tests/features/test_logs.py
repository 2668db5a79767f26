"""The cloud log handler: never blocks, bounded, rate-limited, masks secrets, says what it left out."""

from __future__ import annotations

import logging
from collections.abc import Callable

from thingmodel.features.logs import CloudLogHandler
from thingmodel.protocol.messages import LogConfig, ShipLogs, Uplink


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    **options: object,
) -> tuple[CloudLogHandler, list[Uplink], list[Callable[[], None]], logging.Logger, Clock]:
    sent: list[Uplink] = []
    jobs: list[Callable[[], None]] = []
    clock = Clock()
    handler = CloudLogHandler(sent.append, jobs.append, clock=clock, wall_clock=clock, **options)  # type: ignore[arg-type]
    logger = logging.getLogger(f"test.logs.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return handler, sent, jobs, logger, clock


def run(jobs: list[Callable[[], None]]) -> None:
    while jobs:
        jobs.pop(0)()


def contents(sent: list[Uplink]) -> list[str]:
    return [e.content for m in sent if isinstance(m, ShipLogs) for e in m.entries]


def test_records_are_queued_by_the_caller_and_shipped_by_the_worker_in_one_batch() -> None:
    handler, sent, jobs, logger, _ = make()
    logger.info("door opened")
    logger.warning("battery %d%%", 9)
    assert sent == [] and len(jobs) == 1  # nothing sent on the caller's thread; one flush scheduled
    run(jobs)
    assert contents(sent) == [f"INFO {logger.name}: door opened", f"WARNING {logger.name}: battery 9%"]
    assert handler.shipped == 2


def test_records_below_the_level_are_not_shipped() -> None:
    _, sent, jobs, logger, _ = make()
    logger.debug("noise")
    run(jobs)
    assert sent == []


def test_secrets_are_masked_before_they_leave() -> None:
    _, sent, jobs, logger, _ = make(redact=["s3cr3t-value"])
    logger.info("connecting with s3cr3t-value")
    logger.info("config password=hunter2 token: abc123 mode=fast")
    run(jobs)
    shipped = " ".join(contents(sent))
    assert "s3cr3t-value" not in shipped and "hunter2" not in shipped and "abc123" not in shipped
    assert "mode=fast" in shipped and "password=***" in shipped


def test_over_the_rate_records_are_counted_and_the_next_batch_says_how_many() -> None:
    _, sent, jobs, logger, clock = make(rate=1.0, burst=3)
    for n in range(10):
        logger.info("line %d", n)
    run(jobs)
    shipped = contents(sent)
    assert shipped[0].startswith("7 log records were left out (rate 1/s")
    assert [s.rsplit(" ", 1)[1] for s in shipped[1:]] == ["0", "1", "2"]
    clock.now += 5  # tokens refill
    logger.info("later")
    run(jobs)
    assert contents(sent)[4:] == [f"INFO {logger.name}: later"]  # nothing left out since


def test_the_queue_is_bounded_and_keeps_the_newest() -> None:
    _, sent, jobs, logger, _ = make(capacity=5, burst=100, rate=100)
    for n in range(20):
        logger.info("n%d", n)
    run(jobs)
    shipped = contents(sent)
    assert shipped[0].startswith("15 log records were left out")
    assert [s.split(": ")[1] for s in shipped[1:]] == ["n15", "n16", "n17", "n18", "n19"]


def test_the_cloud_switches_shipping_off_and_on() -> None:
    handler, sent, jobs, logger, clock = make()
    handler.configure(LogConfig(False))
    logger.info("while off")
    run(jobs)
    assert sent == []
    handler.configure(LogConfig(True, until_ms=int((clock.now + 10) * 1000)))
    logger.info("while on")
    clock.now += 20
    logger.info("after the end time")
    run(jobs)
    shipped = contents(sent)
    assert shipped[0].startswith("2 log records were left out")  # one while off, one after the end
    assert shipped[1].endswith("while on") and len(shipped) == 2


def test_records_logged_while_shipping_are_not_shipped_again() -> None:
    sent: list[Uplink] = []
    jobs: list[Callable[[], None]] = []
    logger = logging.getLogger("test.logs.loop")
    logger.propagate = False

    def send(message: Uplink) -> None:
        sent.append(message)
        logger.warning("publishing %s", type(message).__name__)  # what a transport might log

    handler = CloudLogHandler(send, jobs.append)
    logger.addHandler(handler)
    logger.warning("first")
    run(jobs)
    run(jobs)
    assert contents(sent) == ["WARNING test.logs.loop: first"] and jobs == []


def test_long_records_are_cut_to_max_length() -> None:
    _, sent, jobs, logger, _ = make(max_length=40)
    logger.info("x" * 500)
    run(jobs)
    assert len(contents(sent)[0]) == 40 and contents(sent)[0].endswith("…")
