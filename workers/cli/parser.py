"""`python -m workers …`: parses arguments and dispatches; the work lives elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from events import AgentType, AuditEventType, SettingCategory
from workers.config import Config, ConfigError
from workers.observability.logs import setup_logging

QUERIES = ("conversation", "messages", "audit", "files", "file", "agents", "agent", "settings")


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time zone, e.g. 2026-11-26T09:00:00Z")
    return moment


def _event_type(text: str) -> AuditEventType:
    try:
        return AuditEventType(text)
    except ValueError:
        names = ", ".join(t.value for t in AuditEventType)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an event type; one of: {names}"
        ) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run", help="the whole system: nats-server (unless NATS_URL answers), workers, scheduler"
    )
    sub.add_parser("worker", help="only the consumers (an external NATS at NATS_URL)")
    sub.add_parser("scheduler", help="only the scheduled retention jobs")
    sub.add_parser("streams", help="create the JetStream streams if absent, then exit")

    pub = sub.add_parser("publish", help="publish JSON events (one per line) from FILE or -")
    pub.add_argument("file", nargs="?", help="a file of JSON lines, or - for standard input")
    pub.add_argument("--subject", help="subject for lines without a `subject` field")
    pub.add_argument("--demo", action="store_true", help="publish a realistic demo burst")

    q = sub.add_parser("query", help="read records: " + ", ".join(QUERIES))
    q.add_argument("what", choices=QUERIES)
    q.add_argument("--tenant", type=UUID, required=True)
    q.add_argument("--id", type=UUID, help="one record by id")
    q.add_argument("--conversation", type=UUID)
    q.add_argument("--user", type=UUID)
    q.add_argument("--session", type=UUID, help="workspace session id")
    q.add_argument("--path", help="file path (with --session)")
    q.add_argument("--event-type", type=_event_type, help="e.g. MessageSent")
    q.add_argument("--since", type=_when, help="RFC 3339, inclusive")
    q.add_argument("--until", type=_when, help="RFC 3339, exclusive")
    q.add_argument("--include-deleted", action="store_true")
    q.add_argument("--type", type=AgentType, choices=list(AgentType), help="agent type")
    q.add_argument("--category", type=SettingCategory, choices=list(SettingCategory))
    q.add_argument("--key", help="setting key (with --user and --category)")
    q.add_argument("--offset", type=int, default=0)
    q.add_argument("--limit", type=int, help="default: everything that matches, streamed")
    q.add_argument("--json", action="store_true")

    d = sub.add_parser("dlq", help="the dead-letter stream: list, show SEQ, replay SEQ…|--all")
    d.add_argument("action", choices=("list", "show", "replay"))
    d.add_argument("seq", nargs="*", type=int)
    d.add_argument("--all", action="store_true", help="replay every letter (with replay)")
    d.add_argument("--subject", help="only letters of this original subject")
    d.add_argument("--json", action="store_true")

    c = sub.add_parser("check", help="consistency: index entries vs records; exit 1 if broken")
    c.add_argument("--tenant", type=UUID)
    c.add_argument("--json", action="store_true")

    _add_job_commands(sub)
    return p


def _add_job_commands(sub: Any) -> None:
    cl = sub.add_parser("cleanup", help="run a retention job once: files, audit or dedupe")
    cl.add_argument("job", choices=("files", "audit", "dedupe"))
    cl.add_argument("--tenant", type=UUID)
    cl.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    age = cl.add_mutually_exclusive_group()
    age.add_argument("--older-than-days", type=float, dest="days")
    age.add_argument("--retention-days", type=float, dest="days")
    cl.add_argument("--json", action="store_true")

    h = sub.add_parser("hold", help="legal holds: add, remove, list")
    h.add_argument("action", choices=("add", "remove", "list"))
    h.add_argument("--tenant", type=UUID)
    h.add_argument("--user", type=UUID)
    h.add_argument("--session", type=UUID)
    h.add_argument("--reason", default="")
    h.add_argument("--json", action="store_true")

    r = sub.add_parser("retention", help="per-tenant retention overrides: show, set, clear")
    r.add_argument("action", choices=("show", "set", "clear"))
    r.add_argument("--tenant", type=UUID, required=True)
    r.add_argument("--files-days", type=float, help="purge soft-deleted files after N days")
    r.add_argument("--audit-days", type=float, help="keep audit events N days")

    f = sub.add_parser("files", help="file operations: restore a soft-deleted file")
    f.add_argument("action", choices=("restore",))
    f.add_argument("--tenant", type=UUID, required=True)
    f.add_argument("--id", type=UUID, required=True)
    f.add_argument(
        "--to", metavar="PATH", help="restore at this path (when another file is live at its own)"
    )
    f.add_argument("--json", action="store_true")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Config.from_env()
    except Exception as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    from workers.cli import commands

    try:
        return asyncio.run(commands.dispatch(args, settings))
    except KeyboardInterrupt:
        return 130
    except ConfigError as e:  # found only when used: a cron expression, a busy METRICS_PORT
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except commands.CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
