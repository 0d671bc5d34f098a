"""The retention commands of the CLI: `cleanup`, `hold`, `retention`, `files restore`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any, TypeVar

from workers.cli.commands import CommandError
from workers.config import Config
from workers.errors import PathOccupied, WorkersError
from workers.jobs import controls
from workers.jobs.executor import run_job
from workers.jobs.restore import restore_file
from workers.jobs.summary import JobProgress
from workers.repositories import Repositories
from workers.repositories.holds import HoldKind
from workers.service.wiring import open_configured_store, repositories
from workers.store import Store

R = TypeVar("R")


async def _with_store(
    settings: Config, work: Callable[[Store, Repositories], Coroutine[Any, Any, R]]
) -> R:
    """Run `work` on a fresh store. A refused input or a damaged stored value (a WorkersError
    naming it) is an `error:` line and exit 1, not a traceback."""
    store = open_configured_store(settings)
    try:
        return await work(store, repositories(settings))
    except WorkersError as e:
        raise CommandError(str(e)) from e
    finally:
        await store.close()


def _progress(p: JobProgress) -> None:
    """One line on stderr, rewritten after every batch: a progress indicator for long purges."""
    verb = "would remove" if p.dry_run else "removed"
    sys.stderr.write(
        f"\r{p.job}: tenant {p.tenant}  {verb} {p.removed:,}  held {p.held:,}  "
        f"batches {p.batches:,}   "
    )
    sys.stderr.flush()


async def run_cleanup(args: argparse.Namespace, settings: Config) -> int:
    summary = await _with_store(
        settings,
        lambda store, repos: run_job(
            args.job,
            store,
            repos,
            settings,
            tenant=args.tenant,
            dry_run=args.dry_run,
            older_than_days=args.days,
            progress=None if args.json else _progress,
        ),
    )
    if not args.json:
        sys.stderr.write("\n")
    print(json.dumps(summary.as_dict(), indent=2) if args.json else summary)
    return 1 if summary.interrupted else 0


async def run_hold(args: argparse.Namespace, settings: Config) -> int:
    if args.action == "list":
        found = await _with_store(settings, lambda s, r: controls.list_holds(s, r, args.tenant))
        if args.json:
            print(json.dumps([h.model_dump(mode="json") for h in found], indent=2))
            return 0
        for h in found:
            since = f"{h.created_at:%Y-%m-%d}"
            print(f"{h.tenant_id}  {h.kind:<8} {h.subject_id or '-'}  since {since}  {h.reason}")
        return 0
    if args.tenant is None:
        print(
            "error: hold add|remove needs --tenant (--user or --session narrow it)", file=sys.stderr
        )
        return 2
    kind: HoldKind = "user" if args.user else "session" if args.session else "tenant"
    subject = args.user or args.session
    what = f"{kind} {subject or args.tenant}"
    if args.action == "add":
        hold = await _with_store(
            settings, lambda s, r: controls.add_hold(s, r, args.tenant, kind, subject, args.reason)
        )
        print(
            json.dumps(hold.model_dump(mode="json"), indent=2)
            if args.json
            else f"hold added: {what}"
        )
        return 0
    if await _with_store(
        settings, lambda s, r: controls.remove_hold(s, r, args.tenant, kind, subject)
    ):
        print(f"hold removed: {what}")
        return 0
    print(f"error: no hold on {what}", file=sys.stderr)
    return 1


async def run_retention(args: argparse.Namespace, settings: Config) -> int:
    if args.action == "set":
        result = await _with_store(
            settings,
            lambda s, r: controls.set_retention(
                s, r, args.tenant, args.files_days, args.audit_days
            ),
        )
    elif args.action == "clear":
        await _with_store(settings, lambda s, r: controls.clear_retention(s, r, args.tenant))
        result = await _with_store(settings, lambda s, r: controls.get_retention(s, r, args.tenant))
    else:
        result = await _with_store(settings, lambda s, r: controls.get_retention(s, r, args.tenant))
    shown = {
        "tenant": str(args.tenant),
        **asdict(result),
        "defaults": {
            "files_days": settings.file_purge_after_days,
            "audit_days": settings.audit_retention_days,
        },
    }
    print(json.dumps(shown, indent=2, default=str))
    return 0


async def run_files(args: argparse.Namespace, settings: Config) -> int:
    try:
        restored = await _with_store(
            settings, lambda s, r: restore_file(s, r, args.tenant, args.id, to=args.to)
        )
    except PathOccupied as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if restored is None:
        print(f"error: file {args.id} not found (never seen, or already purged)", file=sys.stderr)
        return 1
    if args.json:
        print(restored.model_dump_json(indent=2))
    else:
        print(f"restored {restored.file_path} (checksum {restored.checksum})")
    return 0
