"""The retention commands: `cleanup`, `hold add|remove|list`, `retention show|set|clear`,
`files restore`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import typer

from workers.cli import output
from workers.cli.errors import CommandError, UsageProblem
from workers.cli.params import Job
from workers.cli.resources import existing_store, settings
from workers.errors import WorkersError

if TYPE_CHECKING:
    from workers.jobs.summary import JobProgress
    from workers.repositories import Repositories
    from workers.repositories.holds import Hold, HoldKind
    from workers.repositories.retention import Retention
    from workers.store import Store

R = TypeVar("R")

commands = typer.Typer()
hold = typer.Typer(help="Legal holds: the purges skip what they cover.", no_args_is_help=True)
retention = typer.Typer(help="Per-tenant overrides of the retention periods.", no_args_is_help=True)
files = typer.Typer(help="File operations: restore a soft-deleted file.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of lines for people.")]
Tenant = Annotated[UUID, typer.Option(help="The tenant (UUID).", show_default=False)]
Days = Annotated[float | None, typer.Option(min=0, metavar="DAYS")]


async def with_store(work: Callable[[Store, Repositories], Coroutine[Any, Any, R]]) -> R:
    """Run `work` on the existing store. A refused input or a damaged stored value (a
    WorkersError naming it) is an `error:` line and exit 1, not a traceback."""
    async with existing_store(settings()) as (store, repos):
        try:
            return await work(store, repos)
        except WorkersError as e:
            raise CommandError(str(e)) from e


def _progress(p: JobProgress) -> None:
    """One line on stderr, rewritten after every batch: a progress indicator for long purges."""
    verb = "would remove" if p.dry_run else "removed"
    sys.stderr.write(
        f"\r{p.job}: tenant {p.tenant}  {verb} {p.removed:,}  held {p.held:,}  "
        f"batches {p.batches:,}   "
    )
    sys.stderr.flush()


@commands.command("cleanup")
def cleanup_command(
    job: Annotated[Job, typer.Argument(help="The retention job to run once.")],
    tenant: Annotated[UUID | None, typer.Option(help="Only this tenant (default: all).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; delete nothing.")
    ] = False,
    older_than_days: Annotated[
        float | None,
        typer.Option(
            "--older-than-days", "--retention-days", min=0, help="Instead of the configured period."
        ),
    ] = None,
    json: Json = False,
) -> int:
    """Run a retention job now: what it removes, what holds kept (exit 1 if interrupted)."""
    from workers.jobs.executor import run_job

    config = settings()
    summary = asyncio.run(
        with_store(
            lambda store, repos: run_job(
                job.value,
                store,
                repos,
                config,
                tenant=tenant,
                dry_run=dry_run,
                older_than_days=older_than_days,
                progress=None if json else _progress,
            )
        )
    )
    if json:
        output.print_json(summary.as_dict())
    else:
        sys.stderr.write("\n")
        print(summary)
    return 1 if summary.interrupted else 0


def _subject(user: UUID | None, session: UUID | None) -> tuple[HoldKind, UUID | None]:
    if user and session:
        raise UsageProblem("a hold covers the tenant, a --user or a --session: give one")
    return ("user" if user else "session" if session else "tenant"), user or session


def _described(h: Hold) -> str:
    return f"{h.kind} {h.subject_id or h.tenant_id}"


HoldUser = Annotated[UUID | None, typer.Option(help="Hold only this user's records.")]
HoldSession = Annotated[UUID | None, typer.Option(help="Hold only this session's records.")]


@hold.command("add")
def hold_add(
    tenant: Tenant,
    user: HoldUser = None,
    session: HoldSession = None,
    reason: Annotated[str, typer.Option(help="Why (a case number, a ticket).")] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Change the reason of a hold already in place.")
    ] = False,
    json: Json = False,
) -> int:
    """Place a legal hold on a tenant, a user or a session."""
    from workers.jobs.controls import place_hold

    kind, subject = _subject(user, session)
    placed, before = asyncio.run(
        with_store(lambda s, r: place_hold(s, r, tenant, kind, subject, reason, replace=replace))
    )
    if before is not None and not replace and before.reason != reason:
        raise CommandError(
            f"a hold on {_described(before)} is already in place (reason {before.reason!r}, "
            f"since {before.created_at:%Y-%m-%d}): --replace changes its reason"
        )
    if json:
        output.print_json(placed.model_dump(mode="json"))
    elif before is None:
        print(f"hold added: {_described(placed)}")
    else:
        print(f"hold {'updated' if replace else 'already in place'}: {_described(placed)}")
    return 0


@hold.command("remove")
def hold_remove(tenant: Tenant, user: HoldUser = None, session: HoldSession = None) -> int:
    """Lift a hold (exit 1 if there was none)."""
    from workers.jobs.controls import remove_hold

    kind, subject = _subject(user, session)
    what = f"{kind} {subject or tenant}"
    if not asyncio.run(with_store(lambda s, r: remove_hold(s, r, tenant, kind, subject))):
        raise CommandError(f"no hold on {what}")
    print(f"hold removed: {what}")
    return 0


@hold.command("list")
def hold_list(
    tenant: Annotated[UUID | None, typer.Option(help="Only this tenant (default: all).")] = None,
    json: Json = False,
) -> int:
    """Holds in place, per tenant."""
    from workers.jobs.controls import list_holds

    found = asyncio.run(with_store(lambda s, r: list_holds(s, r, tenant)))
    if json:
        output.print_json([h.model_dump(mode="json") for h in found])
        return 0
    for h in found:
        since = f"{h.created_at:%Y-%m-%d}"
        print(f"{h.tenant_id}  {h.kind:<8} {h.subject_id or '-'}  since {since}  {h.reason}")
    print(f"({output.counted(len(found), 'hold')})", file=sys.stderr)
    return 0


def _show_retention(tenant: UUID, result: Retention, as_json: bool) -> int:
    config = settings()
    defaults = {
        "files_days": config.file_purge_after_days,
        "audit_days": config.audit_retention_days,
    }
    if as_json:
        output.print_json({"tenant": str(tenant), **asdict(result), "defaults": defaults})
        return 0
    for rule, days in asdict(result).items():
        name = rule.removesuffix("_days")
        shown = f"{days:g} days (override)" if days is not None else f"{defaults[rule]:g} days"
        print(f"{name}: {shown}")
    return 0


@retention.command("show")
def retention_show(tenant: Tenant, json: Json = False) -> int:
    """The tenant's periods: its overrides, else the configured defaults."""
    from workers.jobs.controls import get_retention

    return _show_retention(
        tenant, asyncio.run(with_store(lambda s, r: get_retention(s, r, tenant))), json
    )


@retention.command("set")
def retention_set(
    tenant: Tenant,
    files_days: Annotated[
        float | None, typer.Option(min=0, help="Purge soft-deleted files after N days.")
    ] = None,
    audit_days: Annotated[
        float | None, typer.Option(min=0, help="Keep audit events N days.")
    ] = None,
    json: Json = False,
) -> int:
    """Override a period for one tenant (the other is left as it is)."""
    from workers.jobs.controls import set_retention

    if files_days is None and audit_days is None:
        raise UsageProblem("give --files-days, --audit-days or both")
    result = asyncio.run(
        with_store(lambda s, r: set_retention(s, r, tenant, files_days, audit_days))
    )
    return _show_retention(tenant, result, json)


@retention.command("clear")
def retention_clear(tenant: Tenant, json: Json = False) -> int:
    """Drop the tenant's overrides: the configured defaults apply again."""
    from workers.jobs.controls import clear_retention

    return _show_retention(
        tenant, asyncio.run(with_store(lambda s, r: clear_retention(s, r, tenant))), json
    )


@files.command("restore")
def files_restore(
    tenant: Tenant,
    id: Annotated[UUID, typer.Option(help="The soft-deleted file.", show_default=False)],
    to: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="Restore at this path (when another file is live at its own).",
        ),
    ] = None,
    json: Json = False,
) -> int:
    """Undelete a file before the purge takes it (refused while another is live at its path)."""
    from workers.jobs.restore import restore_file

    async def restore(s: Store, r: Repositories) -> tuple[Any, bool]:
        before = await s.read(lambda tr: r.files.get_by_id(tr, tenant, id))
        if before is not None and not before.is_deleted:
            return before, False
        return await restore_file(s, r, tenant, id, to=to), True

    restored, changed = asyncio.run(with_store(restore))
    if restored is None:
        raise CommandError(f"file {id} not found (never seen, or already purged)")
    if not changed:
        raise CommandError(f"file {id} is not deleted: it is live at {restored.file_path!r}")
    if json:
        print(restored.model_dump_json(indent=2))
    else:
        print(f"restored {restored.file_path} (checksum {restored.checksum})")
    return 0
