"""The commands that speak to NATS: `streams`, `publish`, `dlq list|show|replay|discard`."""

from __future__ import annotations

import asyncio
import json as jsonlib
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

import typer

from workers.cli import output
from workers.cli.errors import CommandError, UsageProblem
from workers.cli.resources import existing_store, nats_connection, settings

if TYPE_CHECKING:
    from nats.aio.client import Client

    from workers.nats.dead_letters import DeadLetter

commands = typer.Typer()
dlq = typer.Typer(
    help="The dead-letter stream: what failed, why, its original bytes; replay or discard.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of lines for people.")]
Seqs = Annotated[
    list[int] | None,
    typer.Argument(
        metavar="[SEQ]...",
        help="DLQ sequence numbers, as `dlq list` shows them.",
        show_default=False,
    ),
]
Subject = Annotated[
    str | None,
    typer.Option(
        "--subject", metavar="SUBJECT", help="Only letters of this original subject (file.changed)."
    ),
]
All = Annotated[bool, typer.Option("--all", help="Every letter (of --subject, if given).")]


@commands.command("streams")
def streams_command() -> int:
    """Create the JetStream streams EVENTS and DLQ if absent (never rewrites one), then exit."""
    return asyncio.run(_streams())


async def _streams() -> int:
    from workers.nats.streams import ensure_streams

    config = settings()
    async with nats_connection(config) as nc:
        notes = await ensure_streams(nc.jetstream(), config)
    for note in notes or ["streams already present"]:
        print(note)
    return 0


@commands.command("publish")
def publish_command(
    file: Annotated[
        typer.FileText | None,
        typer.Argument(metavar="[FILE]", help="JSON events, one per line; - reads standard input."),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject", metavar="SUBJECT", help="Subject of lines without a `subject` field."
        ),
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Publish a realistic demo burst.")] = False,
) -> int:
    """Publish events to JetStream and count its answers: exit 1 if any was not stored."""
    from workers.nats.producer import demo_events, read_events

    if demo == (file is not None):
        raise UsageProblem("give FILE, - (standard input) or --demo")
    tenant = None
    events: Iterable[tuple[str, bytes, str | None]]
    if demo:
        burst = demo_events()
        events = [(e.pop("subject"), jsonlib.dumps(e).encode(), e["event_id"]) for e in burst]
        tenant = burst[0]["tenant_id"]
    else:
        assert file is not None
        try:
            events = list(read_events(file, subject))
        except UnicodeDecodeError as e:
            raise UsageProblem(
                f"{file.name}: not UTF-8 text ({e.reason} at byte {e.start})"
            ) from None
        except ValueError as e:
            raise UsageProblem(f"{file.name}: {e}") from None
    return asyncio.run(_publish(events, tenant))


async def _publish(events: Iterable[tuple[str, bytes, str | None]], tenant: str | None) -> int:
    from workers.nats.producer import on_tenant_subjects, publish_all
    from workers.nats.tenancy import WORKERS_USER

    config = settings()
    if config.multi_tenant and config.nats_user == WORKERS_USER:
        try:
            events = list(on_tenant_subjects(events))
        except ValueError as e:
            raise UsageProblem(str(e)) from None
    async with nats_connection(config) as nc:
        report = await publish_all(nc, events)
    print(
        f"published {output.counted(report.sent, 'event')} to {config.nats_url}: "
        f"{report.stored:,} stored, {output.counted(report.duplicates, 'duplicate')} "
        f"(stored before), {report.failed:,} failed"
    )
    for reason, n in report.failures.items():
        print(f"error: {output.counted(n, 'event')} not stored: {reason}", file=sys.stderr)
    if tenant is not None:
        print(f"demo tenant: {tenant}\ntry: workers query conversation --tenant {tenant}")
    return 1 if report.failed else 0


@dlq.command("list")
def dlq_list(subject: Subject = None, json: Json = False) -> int:
    """Every dead letter: its sequence, subject, deliveries and reason."""
    return asyncio.run(_list(subject, json))


async def _list(subject: str | None, as_json: bool) -> int:
    from workers.nats import dead_letters

    async with nats_connection(settings()) as nc:
        found = [x async for x in dead_letters.letters(nc, subject)]
    if as_json:
        output.print_json([dead_letters.typed(x) for x in found])
        return 0
    for x in found:
        print(f"{x.seq:>8}  {x.subject:<24} deliveries={x.deliveries:<3} {x.reason}")
    print(f"({output.counted(len(found), 'dead letter')})", file=sys.stderr)
    return 0


@dlq.command("show")
def dlq_show(seq: Seqs = None, json: Json = False) -> int:
    """Letters in full: reason, original headers and body."""
    return asyncio.run(_show(seq or [], json))


async def _show(seqs: list[int], as_json: bool) -> int:
    from workers.nats import dead_letters

    if not seqs:
        raise UsageProblem("dlq show needs SEQ…")
    async with nats_connection(settings()) as nc:
        found = await _letters(nc, seqs, None, False)
    shown = [dead_letters.typed(x, full=True) for x in found]
    if as_json:
        output.print_json(shown if len(shown) > 1 else shown[0])
        return 0
    for letter in shown:
        body = letter.pop("body")
        for name, value in letter.items():
            print(f"{name}: {jsonlib.dumps(value) if isinstance(value, dict) else value}")
        print(f"body: {body}\n")
    return 0


@dlq.command("replay")
def dlq_replay(seq: Seqs = None, all: All = False, subject: Subject = None) -> int:
    """Republish letters to their original subject (the workers' dedupe still applies each at
    most once), then drop them from the DLQ."""
    return asyncio.run(_act("replay", seq or [], all, subject))


@dlq.command("discard")
def dlq_discard(seq: Seqs = None, all: All = False, subject: Subject = None) -> int:
    """Drop letters for good, with an audit record in the tenant each one names."""
    return asyncio.run(_act("discard", seq or [], all, subject))


async def _act(action: str, seqs: list[int], every: bool, subject: str | None) -> int:
    from workers.nats import dead_letters

    if every == bool(seqs):
        raise UsageProblem(f"dlq {action} needs SEQ… or --all (not both)")
    if seqs and subject:
        raise UsageProblem("--subject selects with --all; SEQ… names the letters already")
    config = settings()
    async with nats_connection(config) as nc:
        targets = await _letters(nc, seqs, subject, every)
        if action == "discard":
            await _audit_discards(targets)
        for letter in targets:
            if action == "replay":
                await dead_letters.replay(nc, letter)
                print(f"replayed {letter.seq} to {letter.subject}")
            else:
                await dead_letters.discard(nc, letter)
                print(f"discarded {letter.seq} ({letter.subject})")
    if not targets:
        print(f"nothing to {action}: the DLQ has no letters", file=sys.stderr)
    return 0


async def _letters(
    nc: Client, seqs: list[int], subject: str | None, every: bool
) -> list[DeadLetter]:
    """The letters asked for; all missing ones named in one error before anything is done."""
    from workers.nats import dead_letters

    if every:
        return [x async for x in dead_letters.letters(nc, subject)]
    found = [await dead_letters.get(nc, s) for s in seqs]
    missing = [str(s) for s, x in zip(seqs, found, strict=True) if x is None]
    if missing:
        noun = "dead letter" if len(missing) == 1 else "dead letters"
        raise CommandError(f"{noun} {', '.join(missing)} not found (`dlq list` shows the DLQ)")
    return [x for x in found if x is not None]


async def _audit_discards(targets: list[DeadLetter]) -> None:
    from workers.jobs.discards import Discarded, record_discards

    letters = [Discarded(x.seq, x.subject, x.reason, x.failed_at, x.data) for x in targets]
    async with existing_store(settings()) as (store, repos):
        anonymous = await record_discards(store, repos, letters)
    if anonymous:
        print(
            f"{output.counted(anonymous, 'letter')} named no tenant: discarded without an "
            "audit record",
            file=sys.stderr,
        )
