"""The access log written in batches (``AccessLog``): the same lines, in order, in the
configured destination, one hand-off per batch."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from greentwin.server.app import AccessLogger, JsonLine
from greentwin.server.run import AccessBatch, AccessLog, log_off_loop
from yarl import URL

pytestmark = pytest.mark.asyncio

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Writes(io.StringIO):
    """A text stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


@pytest.fixture
def access() -> Iterator[logging.Logger]:
    """A logger of its own (no propagation) at INFO, its handlers removed afterwards."""
    logger = logging.getLogger("greentwin.access.test")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def _stream_handler(stream: io.StringIO, fmt: str = FORMAT) -> logging.StreamHandler[io.StringIO]:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    return handler


def _one_by_one(lines: list[str], fmt: str = FORMAT) -> str:
    """What a stream handler writes for the lines logged one record each, now."""
    stream = io.StringIO()
    logger = logging.getLogger("greentwin.access.reference")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = _stream_handler(stream, fmt)
    logger.addHandler(handler)
    try:
        for line in lines:
            logger.info("%s", line)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().replace("greentwin.access.reference", "greentwin.access.test")


async def test_a_batch_is_one_write_of_the_lines_one_record_each_would_give(
    access: logging.Logger,
) -> None:
    stream = Writes()
    access.addHandler(_stream_handler(stream))
    log = AccessLog(access, interval=60.0)
    lines = [f'{{"n":{i}}}' for i in range(500)]
    for line in lines:
        log.write(line)
    assert stream.writes == 0  # buffered
    log.flush()
    assert stream.writes == 1
    # the same text as one record per line, but for the time (a second may pass between)
    one = _one_by_one(lines).splitlines()
    assert [x[8:] for x in stream.getvalue().splitlines()] == [x[8:] for x in one]
    got = stream.getvalue().splitlines()
    assert [x.split(": ", 1)[1] for x in got] == lines
    assert all(x[8:] == " INFO greentwin.access.test: " + x.split(": ", 1)[1] for x in got)
    log.close()


async def test_deferred_lines_are_formatted_when_written(access: logging.Logger) -> None:
    stream = io.StringIO()
    access.addHandler(_stream_handler(stream, "%(message)s"))
    log = AccessLog(access, interval=60.0)
    log.write(JsonLine({"method": "GET", "path": "/a b", "status": 200}))
    log.write("plain")
    log.close()
    assert stream.getvalue() == '{"method":"GET","path":"/a b","status":200}\nplain\n'


async def test_each_line_keeps_its_time_to_a_slot(access: logging.Logger) -> None:
    stream = io.StringIO()
    access.addHandler(_stream_handler(stream, "%(created).6f %(message)s"))
    log = AccessLog(access, interval=60.0)
    sent = []
    for i in range(6):
        sent.append(time.time())
        log.write(str(i))
        await asyncio.sleep(0.02)
    log.close()
    got = [float(x.split()[0]) for x in stream.getvalue().splitlines()]
    assert len(got) == 6
    assert all(abs(g - s) < 0.011 for g, s in zip(got, sent, strict=True)), (got, sent)


async def test_lines_are_handed_on_after_the_interval_or_at_the_limit(
    access: logging.Logger,
) -> None:
    stream = Writes()
    access.addHandler(_stream_handler(stream, "%(message)s"))
    log = AccessLog(access, interval=0.05, limit=1000)
    log.write("first")
    await asyncio.sleep(0.2)
    assert stream.getvalue() == "first\n"  # the timer handed it on
    for _ in range(99):
        log.write("x" * 10)
    assert stream.writes == 1  # 990 characters: below the limit
    log.write("x" * 10)
    assert stream.writes == 2 and stream.getvalue().count("\n") == 101  # at the limit
    log.close()
    log.write("after close")  # handed on at once
    assert stream.getvalue().endswith("after close\n")


async def test_nothing_is_written_below_the_level_and_close_writes_the_rest(
    access: logging.Logger,
) -> None:
    stream = io.StringIO()
    access.addHandler(_stream_handler(stream, "%(message)s"))
    log = AccessLog(access, interval=60.0)
    enabled = []
    access.setLevel(logging.WARNING)
    enabled.append(log.enabled)
    log.write("dropped")  # the level changed after the line was made: still dropped
    log.flush()
    access.setLevel(logging.INFO)
    enabled.append(log.enabled)
    log.write("kept")
    log.close()
    assert enabled == [False, True]
    assert stream.getvalue() == "kept\n"


async def test_other_handlers_get_one_record_per_line(
    access: logging.Logger, tmp_path: Path
) -> None:
    seen: list[tuple[str, object]] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            assert not isinstance(record, AccessBatch)
            seen.append((record.getMessage(), record.args))

    class Upper(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return super().format(record).upper()

    filtered = io.StringIO()
    with_filter = _stream_handler(filtered, "%(message)s")
    with_filter.addFilter(lambda r: r.getMessage() != "b")
    upper = io.StringIO()
    own_format = _stream_handler(upper, "%(message)s")
    own_format.setFormatter(Upper("%(message)s"))
    delayed = logging.FileHandler(tmp_path / "access.log", delay=True)
    delayed.setFormatter(logging.Formatter("%(message)s"))
    for h in (Catch(), with_filter, own_format, delayed):
        access.addHandler(h)
    log = AccessLog(access, interval=60.0)
    for line in ("a", "b", "c"):
        log.write(line)
    log.flush()
    log.write("d")
    log.close()
    delayed.close()
    assert seen == [("a", ("a",)), ("b", ("b",)), ("c", ("c",)), ("d", ("d",))]
    assert filtered.getvalue() == "a\nc\nd\n"
    assert upper.getvalue() == "A\nB\nC\nD\n"
    assert (tmp_path / "access.log").read_text() == "a\nb\nc\nd\n"


async def test_batches_go_through_the_logging_thread_in_one_write(
    access: logging.Logger,
) -> None:
    """With :func:`log_off_loop` the batch is queued whole; the thread writes it. A
    record logged after access lines is written after them."""
    stream = Writes()
    root = logging.getLogger()
    handler = _stream_handler(stream, "%(levelname)s %(name)s: %(message)s")
    root.addHandler(handler)
    access.propagate = True
    try:
        with log_off_loop() as listener:
            assert listener is not None
            log = AccessLog(access, interval=60.0)
            for i in range(100):
                log.write(str(i))
            logging.getLogger("greentwin.other").warning("between")
            log.write("100")
            log.close()
    finally:
        root.removeHandler(handler)
    assert stream.writes == 3
    lines = [f"INFO greentwin.access.test: {i}\n" for i in range(101)]
    lines.insert(100, "WARNING greentwin.other: between\n")
    assert stream.getvalue() == "".join(lines)


async def test_the_batched_access_logger_writes_to_its_buffer(access: logging.Logger) -> None:
    stream = io.StringIO()
    access.addHandler(_stream_handler(stream, "%(message)s"))
    log = AccessLog(access, interval=60.0)
    cls = AccessLogger.batched(log)
    assert issubclass(cls, AccessLogger) and cls.lines is log and AccessLogger.lines is None

    class Req:
        method = "GET"
        rel_url = URL("/api/health?token=abc")
        remote = "127.0.0.1"

    class Resp:
        status = 200
        body_length = 7

    cls(access, "").log(Req(), Resp(), 0.001)  # type: ignore[arg-type]
    assert stream.getvalue() == ""
    log.close()
    assert stream.getvalue() == (
        '{"method":"GET","path":"/api/health","status":200,"bytes":7,"ms":1.0,'
        '"remote":"127.0.0.1","query":"token=***"}\n'
    )
