"""How typed values are read from the command line: times, ages, audit event types, record kinds.

Each parser raises `typer.BadParameter` with what was wrong and what to give instead; the
command line prints it as one line and exits 2.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import typer

from events.audit_types import AUDIT_TYPE_BY_SNAKE, AuditEventType

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def moment(text: str) -> datetime:
    """An RFC 3339 time with its zone (`2026-01-09T12:00:00Z`), or an age before now (`90m`,
    `1h`, `7d`, `2w`): a local time without a zone would be read as UTC, silently."""
    age = _AGE.fullmatch(text.strip())
    if age:
        return datetime.now(UTC) - timedelta(**{_UNITS[age[2]]: float(age[1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time: give RFC 3339 (2026-01-09T12:00:00Z) or an age "
            "(30m, 1h, 7d, 2w)"
        ) from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"{text!r}: give a time zone, e.g. 2026-11-26T09:00:00Z")
    return parsed


def event_type(text: str) -> AuditEventType:
    """`MessageSent`, or the spelling of its subject: `message_sent`, `audit.message_sent`."""
    try:
        return AuditEventType(text)
    except ValueError:
        pass
    found = AUDIT_TYPE_BY_SNAKE.get(text.removeprefix("audit.").replace(".", "_").lower())
    if found is None:
        names = ", ".join(t.value for t in AuditEventType)
        raise typer.BadParameter(f"{text!r} is not an audit event type; one of: {names}")
    return found


class Job(StrEnum):
    """The retention jobs `cleanup` runs."""

    FILES = "files"
    AUDIT = "audit"
    DEDUPE = "dedupe"
