"""Logging: one JSON object a line (or plain text for people), from the stdlib `logging`.

Fields passed with `extra=` (`subject`, `event_id`, `tenant_id`, …) become JSON keys. FastStream
installs its own coloured handler on the `faststream` logger at import; `adopt_faststream_logger`
removes it so every line of a process has one format.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from nats.aio.msg import Msg

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# attributes every LogRecord has: anything else on a record came from `extra=`
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_ID_FIELD = re.compile(rb'"(event_id|tenant_id)"\s*:\s*"([^"\\]{1,64})"')
_SCAN_AT_MOST = 64 * 1024  # ids are looked for near the start of a body only


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            # FastStream's log context fills its keys with "" outside a message: leave them out
            if key not in _STANDARD and not key.startswith("_") and value != "":
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def json_wanted(log_format: str, stream: TextIO) -> bool:
    if log_format == "auto":
        return not (hasattr(stream, "isatty") and stream.isatty())
    return log_format == "json"


def setup_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Root handler on stderr; FastStream's logger routed through it, quiet below DEBUG."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    use_json = json_wanted(log_format, out)
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if "faststream" in sys.modules:  # else `make_broker` does it, once FastStream is imported
        adopt_faststream_logger(level)


def adopt_faststream_logger(level: str) -> None:
    """Route FastStream's logger through the root handler (it installs its own coloured one at
    import); quiet below DEBUG, as it narrates every task it starts and restarts at INFO."""
    logger = logging.getLogger("faststream")
    for old in logger.handlers[:]:
        logger.removeHandler(old)
    logger.propagate = True
    logger.setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def event_fields(msg: Msg) -> dict[str, Any]:
    """What a log line about one JetStream message carries: subject, stream sequence, deliveries
    and, when the body is JSON with them, the event and tenant ids (it may be junk: dead letters
    are the point)."""
    meta = msg.metadata
    fields: dict[str, Any] = {
        "subject": msg.subject,
        "stream_seq": meta.sequence.stream,
        "deliveries": meta.num_delivered,
    }
    # A regex, not json.loads: the body may be junk or nested thousands deep (dead letters
    # are the point), and a log line must never fail or recurse on it.
    for match in _ID_FIELD.finditer(msg.data[:_SCAN_AT_MOST]):
        key = match.group(1).decode()
        fields.setdefault(key, match.group(2).decode("utf-8", "replace"))
    return fields
