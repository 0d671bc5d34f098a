"""The long-running commands: `run`, `worker`, `scheduler`, `watch`. Ctrl-C or SIGTERM stops
each after it finished what it holds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from workers.cli.errors import CommandError, UsageProblem
from workers.cli.resources import settings
from workers.config import Config

if TYPE_CHECKING:
    from workers.watch.runner import WatchTarget

commands = typer.Typer()

READY_POLL_S = 0.2


@commands.command("run")
def run_command() -> int:
    """The whole system on one machine: nats-server (unless NATS_URL answers), the workers,
    the reads service, the scheduler, and the watcher if WATCH_DIR is set. Prints a ready
    line once /readyz is."""
    return asyncio.run(_run())


async def _run() -> int:
    from workers.service.lifecycle import run_system

    config = settings()
    system = asyncio.create_task(run_system(config))
    banner = asyncio.create_task(_announce_when_ready(config))
    try:
        await system
    finally:
        banner.cancel()
    return 0


async def _announce_when_ready(config: Config) -> None:
    """The ready banner: printed once the metrics endpoint's /readyz says so (or at once when
    METRICS_PORT=0 turns the endpoint off)."""
    where = f"workers consuming from {config.nats_url} into {config.store_url}"
    if not config.metrics_port:
        print(f"started: {where}; metrics off (METRICS_PORT=0); Ctrl-C stops", flush=True)
        return
    import aiohttp

    host = "127.0.0.1" if config.metrics_host in ("0.0.0.0", "::") else config.metrics_host
    base = f"http://{host}:{config.metrics_port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        while True:
            try:
                async with http.get(f"{base}/readyz") as answer:
                    if answer.status == 200:
                        break
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(READY_POLL_S)
    print(
        f"ready: {where}; metrics on {base}/metrics (listening on {config.metrics_host}); "
        "Ctrl-C stops",
        flush=True,
    )


@commands.command("worker")
def worker_command() -> int:
    """Only the consumers, against an external NATS at NATS_URL (scale by starting more)."""
    return asyncio.run(_parts("workers"))


@commands.command("scheduler")
def scheduler_command() -> int:
    """Only the scheduled retention jobs (files purge, audit retention, dedupe expiry)."""
    return asyncio.run(_parts("scheduler"))


@commands.command("serve-reads")
def serve_reads_command() -> int:
    """Only the reads service: the IDE's queries over NATS request-reply (`reads.*`), on a
    store connection of its own (scale by starting more: NATS spreads the requests)."""
    return asyncio.run(_parts("reads"))


async def _parts(which: str) -> int:
    from workers.service import lifecycle

    part = {
        "workers": lifecycle.run_workers,
        "scheduler": lifecycle.run_scheduler_part,
        "reads": lifecycle.run_reads_part,
    }[which]
    await lifecycle.run_parts(settings(), [part])
    return 0


@commands.command("watch")
def watch_command(
    folder: Annotated[
        Path | None,
        typer.Argument(metavar="[DIR]", help="The folder to watch (default: WATCH_DIR)."),
    ] = None,
    tenant: Annotated[
        UUID | None, typer.Option(help="Tenant of the files (default: WATCH_TENANT).")
    ] = None,
    session: Annotated[
        UUID | None, typer.Option(help="Workspace session (default: WATCH_SESSION).")
    ] = None,
    user: Annotated[
        UUID | None, typer.Option(help="The user the events name (default: WATCH_USER).")
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(metavar="PATTERN", help="A gitignore pattern to skip as well (repeatable)."),
    ] = None,
    no_ignore: Annotated[
        bool,
        typer.Option(
            "--no-ignore",
            help="Skip nothing: not .git/, node_modules/, caches, swap files, .gitignore.",
        ),
    ] = False,
) -> int:
    """Publish file.changed for a folder: its first scan, then every change; Ctrl-C publishes
    what is pending and exits."""
    config = settings()
    folder = folder or config.watch_dir
    tenant = tenant or config.watch_tenant
    session = session or config.watch_session
    if folder is None or tenant is None or session is None:
        raise UsageProblem(
            "give the folder, --tenant and --session (or WATCH_DIR, WATCH_TENANT, WATCH_SESSION)"
        )
    from workers.watch.runner import WatchTarget

    target = WatchTarget(
        folder, tenant, session, user or config.watch_user, tuple(ignore or ()), not no_ignore
    )
    return asyncio.run(_watch(config, target))


async def _watch(config: Config, target: WatchTarget) -> int:
    from workers.service.lifecycle import stop_on_signals
    from workers.watch.runner import build_watcher, watch_until_stopped
    from workers.watch.watcher import WatchLimitReached

    watcher = build_watcher(config, target)
    stop = asyncio.Event()
    stop_on_signals(stop)

    def ready() -> None:
        print(
            f"watching {watcher.root} for tenant {target.tenant}, session {target.session}; "
            "Ctrl-C stops",
            flush=True,
        )

    try:
        await watch_until_stopped(watcher, stop, ready)
    except WatchLimitReached as e:
        raise CommandError(str(e)) from None
    print(f"stopped: {watcher.progress.published:,} events published", file=sys.stderr)
    return 0
