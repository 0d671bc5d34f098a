"""The commands that read the store: `query`, `check`, `tenants list`."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from events import AgentType, AuditEventType, SettingCategory
from workers.cli import output, params
from workers.cli.errors import CommandError, UsageProblem
from workers.cli.resources import existing_store, settings
from workers.reads.kinds import RecordKind

if TYPE_CHECKING:
    from workers.reads.queries import Filters

commands = typer.Typer()
tenants = typer.Typer(
    help="The tenants the store has seen; in the multi-tenant mode, their NATS accounts.",
    no_args_is_help=True,
)

Tenant = Annotated[UUID, typer.Option(help="The tenant (UUID).", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of lines for people.")]


@commands.command("query")
def query_command(
    what: Annotated[
        RecordKind, typer.Argument(metavar="WHAT", help="What to read.", show_default=False)
    ],
    tenant: Tenant,
    id: Annotated[UUID | None, typer.Option(help="One record by its id.")] = None,
    conversation: Annotated[
        UUID | None, typer.Option(help="messages: of this conversation (required).")
    ] = None,
    user: Annotated[
        UUID | None, typer.Option(help="conversation, audit, files, settings: of this user.")
    ] = None,
    session: Annotated[
        UUID | None,
        typer.Option(help="conversation, files, file: of this workspace session."),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path", metavar="PATH", help="files, file: the file at this path (with --session)."
        ),
    ] = None,
    event_type: Annotated[
        AuditEventType | None,
        typer.Option(
            parser=params.event_type,
            metavar="TYPE",
            help="audit: MessageSent, or its subject's spelling message_sent.",
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            parser=params.moment,
            metavar="TIME",
            help="audit: from this time on, inclusive: RFC 3339 with a zone, or an age (7d).",
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            parser=params.moment,
            metavar="TIME",
            help="audit: before this time, exclusive: RFC 3339 with a zone, or an age (1h).",
        ),
    ] = None,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="files, file: soft-deleted files as well.")
    ] = False,
    type: Annotated[AgentType | None, typer.Option(help="agents: of this type.")] = None,
    category: Annotated[
        SettingCategory | None, typer.Option(help="settings: of this category.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", metavar="KEY", help="settings: one setting (with --user and --category)."
        ),
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many records.")] = 0,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many (default: all, streamed).")
    ] = None,
    json: Json = False,
) -> int:
    """Read records of a tenant; a filter that does not apply to WHAT is refused (exit 2)."""
    from workers.reads.queries import Filters

    f = Filters(
        tenant=tenant,
        id=id,
        conversation=conversation,
        user=user,
        session=session,
        path=path,
        event_type=event_type,
        since=since,
        until=until,
        include_deleted=include_deleted,
        type=type,
        category=category,
        key=key,
        offset=offset,
        limit=limit,
    )
    return asyncio.run(_query(what, f, json))


async def _query(what: RecordKind, f: Filters, as_json: bool) -> int:
    from workers.reads import queries as query

    try:
        query.refuse_unused(what, f)  # a usage error before anything is opened
        return await _read(what, f, as_json)
    except query.BadQuery as e:
        raise UsageProblem(str(e)) from None


async def _read(what: RecordKind, f: Filters, as_json: bool) -> int:
    from workers.errors import NotFound
    from workers.reads import queries as query

    async with existing_store(settings()) as (store, repos):
        if query.is_single(what, f):
            try:
                output.print_one(await query.one(store, repos, what, f), as_json)
            except NotFound as e:
                raise CommandError(str(e)) from None
            return 0
        pages, keep = query.lister(repos, what, f)
        count = await output.print_stream(query.stream(store, pages, f, keep), as_json)
    if not as_json:
        print(f"({output.counted(count, output.NOUNS[what.value])})", file=sys.stderr)
    return 0


@commands.command("check")
def check_command(
    tenant: Annotated[UUID | None, typer.Option(help="Only this tenant (default: all).")] = None,
    json: Json = False,
) -> int:
    """Consistency: every index entry has its record, every record its entries (exit 1 if
    not). Progress on stderr, a page of keys at a time."""
    return asyncio.run(_check(tenant, json))


async def _check(tenant: UUID | None, as_json: bool) -> int:
    from workers.repositories.integrity import CheckReport, check

    def progress(report: CheckReport) -> None:
        sys.stderr.write(
            f"\rchecking: {output.counted(report.tenants, 'tenant')}, "
            f"{output.counted(report.records, 'record')}, "
            f"{output.counted(report.index_entries, 'index entry', 'index entries')}, "
            f"{output.counted(len(report.problems), 'problem')} "
        )
        sys.stderr.flush()

    async with existing_store(settings()) as (store, repos):
        report = await check(store, repos, tenant, None if as_json else progress)
    if as_json:
        print(report.model_dump_json(indent=2, by_alias=True))
        return 0 if report.clean else 1
    if report.tenants:
        sys.stderr.write("\n")
    for problem in report.problems:
        print(problem)
    verdict = "clean" if report.clean else output.counted(len(report.problems), "problem")
    print(
        f"{output.counted(report.tenants, 'tenant')}, {output.counted(report.records, 'record')}, "
        f"{output.counted(report.index_entries, 'index entry', 'index entries')}: {verdict}"
    )
    return 0 if report.clean else 1


@tenants.command("list")
def tenants_list(json: Json = False) -> int:
    """Every tenant: its records per kind and its last event (reads every record key)."""
    return asyncio.run(_tenants(json))


async def _tenants(as_json: bool) -> int:
    from workers.cli.status import tenant_summaries
    from workers.nats.tenancy import Registry

    async with existing_store(settings()) as (store, repos):
        found = await tenant_summaries(store, repos)
    registry = Registry(settings().data_dir)  # multi-tenant mode: who may publish
    for t in found:
        creds = registry.credentials(UUID(str(t["tenant"])))
        t["credentials"] = sorted({c.role for c in creds if not c.revoked})
    if as_json:
        output.print_json(found)
        return 0
    for t in found:
        counts = "  ".join(f"{name}={n:,}" for name, n in t["records"].items())
        roles = ",".join(t["credentials"]) or "-"
        last = t["last_event_at"] or "-"
        print(f"{t['tenant']}  last event {last}  credentials {roles}  {counts}")
    print(f"({output.counted(len(found), 'tenant')})", file=sys.stderr)
    return 0


@commands.command("status")
def status_command(json: Json = False) -> int:
    """The system at a glance: stream sizes, each durable's lag and ack-pending, the DLQ
    depth, the store's tenants and size, the scheduler's next runs (exit 1 if a part is
    unreachable; the others are still shown)."""
    return asyncio.run(_status(json))


async def _status(as_json: bool) -> int:
    from workers.cli import status

    config = settings()
    report: dict[str, Any] = {}
    failed: list[str] = []
    try:
        report["nats"] = await status.nats_status(config)
    except CommandError as e:
        report["nats"] = {"url": config.nats_url, "error": str(e)}
        failed.append(str(e))
    try:
        async with existing_store(config) as (store, repos):
            found = await status.tenant_summaries(store, repos)
        report["store"] = {
            "url": config.store_url,
            "bytes": status.store_size(config),
            "tenants": found,
        }
    except CommandError as e:
        report["store"] = {"url": config.store_url, "error": str(e)}
        failed.append(str(e))
    report["scheduler"] = status.next_runs(config)
    if as_json:
        output.print_json(report)
    else:
        for line in _status_lines(report):
            print(line)
    for problem in failed:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if failed else 0


def _status_lines(report: dict[str, Any]) -> list[str]:
    nats, store = report["nats"], report["store"]
    lines = [f"NATS {nats['url']}" + (f": {nats['error']}" if "error" in nats else "")]
    for s in nats.get("streams", []):
        size = (
            "missing (run `workers streams`)"
            if s["missing"]
            else (f"{output.counted(s['messages'], 'message')}, {s['bytes']:,} bytes")
        )
        lines.append(f"  stream {s['name']}: {size}")
    for c in nats.get("consumers", []):
        lines.append(
            f"  durable {c['durable']}: {c['pending']:,} not yet delivered, "
            f"{c['ack_pending']:,} awaiting ack, {c['redelivered']:,} redelivered"
        )
    if "dlq_depth" in nats:
        lines.append(f"  dead letters: {nats['dlq_depth']:,}")
    lines.append(f"store {store['url']}" + (f": {store['error']}" if "error" in store else ""))
    if "tenants" in store:
        size = "" if store["bytes"] is None else f"{store['bytes']:,} bytes, "
        lines.append(f"  {size}{output.counted(len(store['tenants']), 'tenant')}")
        for t in store["tenants"]:
            total = sum(t["records"].values())
            lines.append(
                f"  tenant {t['tenant']}: {output.counted(total, 'record')}, "
                f"last event {t['last_event_at'] or '-'}"
            )
    lines.append("scheduler (next runs, UTC)")
    for job, run in report["scheduler"].items():
        lines.append(f"  {job}: {run['next_run']}  ({run['cron']})")
    return lines
