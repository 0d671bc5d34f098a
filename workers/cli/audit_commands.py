"""The tamper-evident audit trail: `audit seal`, `audit verify`, `audit checkpoint export`."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from workers.cli import output
from workers.cli.errors import CommandError, UsageProblem
from workers.cli.params import moment
from workers.cli.resources import settings
from workers.cli.retention_commands import with_store

if TYPE_CHECKING:
    from workers.repositories import Repositories
    from workers.repositories.audit_seal import Signed
    from workers.repositories.audit_signing import TrustedKeys
    from workers.repositories.audit_verify import VerifyReport
    from workers.store import Store

audit = typer.Typer(
    help="The tamper-evident audit trail: signed Merkle checkpoints.", no_args_is_help=True
)
checkpoint = typer.Typer(help="Signed checkpoints, to anchor outside the store.")
audit.add_typer(checkpoint, name="checkpoint", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of lines for people.")]
Tenant = Annotated[UUID, typer.Option(help="The tenant (UUID).", show_default=False)]
PROGRESS_AFTER_S = 2.0


@audit.command("seal")
def seal_command(
    tenant: Annotated[UUID | None, typer.Option(help="Only this tenant (default: all).")] = None,
    json: Json = False,
) -> int:
    """Seal the audit records written since the last seal into signed checkpoints."""
    from workers.jobs.sealing import run_seal

    config = settings()
    summary = asyncio.run(with_store(lambda s, r: run_seal(s, r, config, tenant=tenant)))
    if json:
        output.print_json(
            {
                "skipped": summary.skipped,
                "interrupted": summary.interrupted,
                "tenants": {
                    str(t): [cp.model_dump(mode="json") for cp in cps]
                    for t, cps in summary.windows.items()
                },
            }
        )
    else:
        print("\n".join(summary.lines()) or "audit seal: no tenants")
    return 1 if summary.skipped or summary.interrupted else 0


def _trusted() -> TrustedKeys:
    from workers.repositories.audit_signing import Signer, TrustedKeys

    config = settings()
    path = config.audit_signing_key_file
    signer = Signer.from_file(path) if path is not None else None
    publics = [Path(p.strip()) for p in config.audit_public_keys.split(",") if p.strip()]
    trusted = TrustedKeys.load(signer, publics)
    if not trusted.keys:
        raise UsageProblem("no key to verify with: set AUDIT_SIGNING_KEY_FILE or AUDIT_PUBLIC_KEYS")
    return trusted


def _anchor(path: Path) -> Signed:
    from pydantic import ValidationError

    from workers.repositories.audit_seal import Signed

    try:
        return Signed.model_validate_json(path.read_bytes())
    except OSError as e:
        raise UsageProblem(f"cannot read the anchor {path}: {e.strerror}") from None
    except ValidationError:
        raise UsageProblem(
            f"{path} is not a checkpoint written by `audit checkpoint export`"
        ) from None


@audit.command("verify")
def verify_command(
    tenant: Tenant,
    since: Annotated[
        str | None, typer.Option(help="Only windows sealed since (RFC 3339 or an age: 7d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only windows sealed until.")] = None,
    anchor: Annotated[
        Path | None,
        typer.Option(help="A checkpoint exported earlier: the store must still hold it."),
    ] = None,
    json: Json = False,
) -> int:
    """Recompute every sealed window, check the chain and signatures (exit 1 at the first
    broken window or record)."""
    from workers.repositories.audit_verify import Verifier

    start = moment(since) if since else None
    end = moment(until) if until else None
    trusted = _trusted()
    anchored = _anchor(anchor) if anchor is not None else None
    began = time.monotonic()
    shown = False

    def progress(r: VerifyReport) -> None:
        nonlocal shown
        if json or time.monotonic() - began < PROGRESS_AFTER_S:
            return
        shown = True
        sys.stderr.write(f"\raudit verify: window {r.newest_window}  {r.records:,} records   ")
        sys.stderr.flush()

    report = asyncio.run(
        with_store(
            lambda s, r: Verifier(
                s,
                r.audit.seal,
                tenant,
                trusted,
                since=start,
                until=end,
                anchor=anchored,
                progress=progress,
            ).run()
        )
    )
    if shown:
        sys.stderr.write("\n")
    if json:
        output.print_json(
            {
                "ok": report.ok,
                "tenant": str(tenant),
                "windows": report.windows,
                "records": report.records,
                "purged": report.purged,
                "unsealed": report.unsealed,
                "newest_window": report.newest_window,
                "purges": [
                    {
                        "window": p.window,
                        "first_seq": p.first,
                        "last_seq": p.last,
                        "count": p.count,
                        "run_id": str(p.run_id) if p.run_id else None,
                        "cutoff": p.cutoff.isoformat(),
                    }
                    for p in report.purges
                ],
                "problem": report.problem.line() if report.problem else None,
            }
        )
    if report.problem is not None:
        raise CommandError(f"audit trail of tenant {tenant} is broken at {report.problem.line()}")
    if not json:
        print(
            f"ok: tenant {tenant}: {output.counted(report.windows, 'window')}, "
            f"{output.counted(report.records, 'record')} verified, {report.purged:,} removed "
            f"by the retention purge (signed), {report.unsealed:,} not sealed yet"
        )
        for p in report.purges:
            run = f" by run {p.run_id}" if p.run_id else ""
            print(
                f"  purged: window {p.window}, seq {p.first}-{p.last} ({p.count:,})"
                f"{run}, cutoff {p.cutoff.isoformat()}"
            )
    return 0


@checkpoint.command("export")
def export_command(
    tenant: Tenant,
    out: Annotated[
        Path | None, typer.Option(help="Write it to this file (default: standard output).")
    ] = None,
) -> int:
    """The newest signed checkpoint as JSON: keep it outside the store (a file, object
    storage, a witness) and give it to `audit verify --anchor`."""
    from workers.repositories.audit_seal import as_json

    async def newest(store: Store, repos: Repositories) -> Signed | None:
        return await store.read(lambda tr: repos.audit.seal.newest_signed(tr, tenant))

    found = asyncio.run(with_store(newest))
    if found is None or found.checkpoint is None:
        raise CommandError(f"tenant {tenant} has no sealed window yet: run `audit seal` first")
    text = json_text(as_json(found))
    if out is None:
        print(text)
    else:
        try:
            out.write_text(text + "\n")
        except OSError as e:
            raise CommandError(f"cannot write {out}: {e.strerror}") from None
        print(f"wrote tenant {tenant}'s window {found.checkpoint.window} to {out}")
    return 0


def json_text(data: object) -> str:
    import json as jsonlib

    return jsonlib.dumps(data, indent=2)
