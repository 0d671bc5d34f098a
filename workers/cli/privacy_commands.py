"""`subject export` and `subject erase`: a data subject's records, for an access, portability
or erasure request."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from workers.cli import output
from workers.cli.errors import CommandError, UsageProblem
from workers.cli.retention_commands import with_store
from workers.config import Config

if TYPE_CHECKING:
    from workers.repositories import Repositories
    from workers.store import Store

subject = typer.Typer(
    help="A data subject (one user of a tenant): export or erase everything about them.",
    no_args_is_help=True,
)

Tenant = Annotated[UUID, typer.Option(help="The tenant (UUID).", show_default=False)]
User = Annotated[UUID, typer.Option(help="The user (UUID).", show_default=False)]


def _progress(verb: str) -> Callable[[str, int], None]:
    """One line on stderr, rewritten as each kind's count grows."""

    def show(kind: str, n: int) -> None:
        sys.stderr.write(f"\r{verb}: {kind.replace('_', ' ')} {n:,}   ")
        sys.stderr.flush()

    return show


def _clear_progress() -> None:
    sys.stderr.write("\r" + " " * 50 + "\r")


@subject.command("export")
def export_command(
    tenant: Tenant,
    user: User,
    out: Annotated[
        Path,
        typer.Option(help="A new or empty folder for the files.", show_default=False),
    ],
) -> int:
    """Everything about a user as JSON Lines per kind (conversations, messages, files,
    settings, agents, audit) and manifest.json (counts, SHA-256 of each file)."""
    from workers.privacy.export import export_subject

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageProblem(f"{out} is not an empty folder: give a new or empty one")

    progress = _progress("export")
    manifest = asyncio.run(
        with_store(lambda s, r: export_subject(s, r, tenant, user, out, progress))
    )
    _clear_progress()
    total = sum(f.records for f in manifest.files.values())
    counts = ", ".join(f"{kind} {f.records:,}" for kind, f in manifest.files.items())
    print(f"exported {output.counted(total, 'record')} of user {user} to {out}: {counts}")
    return 0


@subject.command("erase")
def erase_command(
    tenant: Tenant,
    user: User,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; change nothing.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Remove a user's conversations, messages, settings, files' metadata and dead letters;
    pseudonymise them in the audit trail (it still verifies); write a DataErased receipt.
    Refused under a legal hold on the user, one of their sessions or the tenant. Safe to run
    again: a killed run resumes, a finished one changes nothing."""
    return asyncio.run(_erase(tenant, user, dry_run, json))


async def _erase(tenant: UUID, user: UUID, dry_run: bool, as_json: bool) -> int:
    from workers.cli.resources import existing_store, nats_connection, settings
    from workers.errors import WorkersError
    from workers.nats.dead_letters import remove_about
    from workers.privacy.erasure import erase_subject

    config = settings()
    progress = _progress("erase")

    async with nats_connection(config) as nc, existing_store(config) as (store, repos):
        try:
            report = await erase_subject(
                store,
                repos,
                tenant,
                user,
                dry_run=dry_run,
                dead_letters=lambda: remove_about(nc, tenant, user),
                progress=progress,
            )
        except WorkersError as e:
            raise CommandError(str(e)) from None
        if dry_run:
            report.counts["dead_letters"] = await remove_about(nc, tenant, user, dry_run=True)
        sealed = None if dry_run else await _seal(config, store, repos, tenant)
    _clear_progress()
    if as_json:
        output.print_json(
            {
                "tenant": str(tenant),
                "user": str(user),
                "dry_run": dry_run,
                "already_erased": report.already,
                "receipt": None if dry_run else str(report.run_id),
                "counts": report.counts,
                "sealed": sealed,
            }
        )
        return 0
    counts = ", ".join(f"{k.replace('_', ' ')} {n:,}" for k, n in report.counts.items())
    if dry_run:
        print(f"would erase user {user} of tenant {tenant}: {counts} (audit: pseudonymised)")
        return 0
    verb = "was already erased" if report.already else "erased"
    print(f"user {user} of tenant {tenant} {verb}: {counts} (audit: pseudonymised)")
    print(f"receipt: DataErased audit record {report.run_id}; {sealed}")
    return 0


async def _seal(config: Config, store: Store, repos: Repositories, tenant: UUID) -> str:
    """Seal the receipt now when this machine has the signing key; else say when it will be."""
    if config.audit_signing_key_file is None:
        return "sealed with the next AUDIT_SEAL_CRON run of a scheduler that has the signing key"
    from workers.jobs.sealing import run_seal

    summary = await run_seal(store, repos, config, tenant=tenant)
    windows = summary.windows.get(tenant, [])
    return f"sealed now ({len(windows)} window{'s' if len(windows) != 1 else ''})"
