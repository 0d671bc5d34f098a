"""Structured logs: one JSON object a line; the dead-letter line names the event it is about."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import sys
import uuid
from collections.abc import Iterator

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import metric, wait_ready
from workers.config import Config
from workers.nats.local_server import free_port
from workers.observability.logs import JsonFormatter, event_fields, json_wanted, setup_logging


async def test_worker_logs_are_json_lines_and_the_dead_letter_line_names_the_event(
    settings: Config, producer: Client, worker_process
) -> None:
    port = free_port()
    proc = worker_process(settings, METRICS_PORT=str(port), LOG_FORMAT="json", LOG_LEVEL="INFO")
    await wait_ready(port, proc)
    tenant = uuid.uuid4()
    bad = {**message_sent(tenant, uuid.uuid4()), "role": "robot"}  # a schema violation
    await producer.jetstream().publish("message.sent", dumps(bad))

    async def dead() -> bool:
        dead = await metric(
            port, "workers_events_dead_lettered_total", default=0, subject="message.sent"
        )  # 0 until the first dead letter is counted
        return dead == 1

    await eventually(dead, what="the bad event dead-lettered")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0

    text = proc.log_path.read_text()  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    [letter] = [line for line in lines if line["message"].startswith("dead-lettered")]
    assert letter["level"] == "WARNING"
    assert letter["subject"] == "message.sent"
    assert letter["event_id"] == bad["event_id"]
    assert letter["tenant_id"] == str(tenant)
    assert letter["deliveries"] == 1 and letter["stream_seq"] >= 1
    assert "role" in letter["reason"]


def test_json_formatter_carries_extra_fields_and_the_traceback() -> None:
    record = logging.LogRecord("w", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
    record.subject = "file.changed"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed x"
    assert line["subject"] == "file.changed"
    assert "ValueError: boom" in line["exc_info"]


def test_auto_format_is_text_on_a_terminal_and_json_otherwise() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert json_wanted("auto", io.StringIO())
    assert not json_wanted("auto", Tty())
    assert not json_wanted("text", io.StringIO())
    assert json_wanted("json", Tty())


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """setup_logging rewires the root and `faststream` loggers: put them back afterwards."""
    loggers = [logging.getLogger(), logging.getLogger("faststream")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def test_setup_logging_routes_faststream_through_the_one_handler(restored_logging: None) -> None:
    import faststream  # noqa: F401 - imported: its coloured handler is on the logger

    out = io.StringIO()
    setup_logging("INFO", "json", out)
    logging.getLogger("faststream").warning("connection broken")
    logging.getLogger("faststream").info("callback is being executed")  # quiet below DEBUG
    [line] = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["logger"] == "faststream" and line["message"] == "connection broken"


@pytest.mark.parametrize(
    "body",
    [b"", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'"a string"', b'{"event_id": 7}'],
)
def test_event_fields_of_any_body_never_raise(body: bytes) -> None:
    reply = "$JS.ACK.EVENTS.workers-messages.2.41.40.1732600000000000000.0"
    fields = event_fields(Msg(None, subject="message.sent", reply=reply, data=body))
    assert fields == {"subject": "message.sent", "stream_seq": 41, "deliveries": 2}


def test_event_fields_carry_the_ids_of_a_json_body() -> None:
    reply = "$JS.ACK.EVENTS.workers-messages.1.5.5.1732600000000000000.0"
    data = b'{"event_id": "e-1", "tenant_id": "t-1", "role": "robot"}'
    fields = event_fields(Msg(None, subject="message.sent", reply=reply, data=data))
    assert fields["event_id"] == "e-1" and fields["tenant_id"] == "t-1"
