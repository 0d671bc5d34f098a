"""`watch`: the file-monitor as a command, and as a part of `run` (WATCH_DIR)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from uuid import UUID

from workers.config import Config, ConfigError
from workers.nats.broker import nats_connect_options
from workers.nats.connection import CertificateRefusal
from workers.watch.baseline import state_file
from workers.watch.ignore import IgnoreRules
from workers.watch.publisher import Identity, Publisher
from workers.watch.watcher import Progress, Watcher, WatchOptions

log = logging.getLogger("workers.watch")


@dataclass(frozen=True)
class WatchTarget:
    root: Path
    tenant: UUID
    session: UUID
    user: UUID | None = None
    ignore: tuple[str, ...] = ()
    default_ignores: bool = True


def target_from_settings(settings: Config) -> WatchTarget:
    """WATCH_DIR and friends, as `run` reads them."""
    if settings.watch_dir is None:
        raise ConfigError("WATCH_DIR is not set")
    if settings.watch_tenant is None or settings.watch_session is None:
        raise ConfigError("WATCH_DIR needs WATCH_TENANT and WATCH_SESSION (UUIDs) as well")
    return WatchTarget(
        settings.watch_dir, settings.watch_tenant, settings.watch_session, settings.watch_user
    )


def build_watcher(settings: Config, target: WatchTarget, out: TextIO = sys.stderr) -> Watcher:
    root = target.root.expanduser()
    if not root.is_dir():
        raise ConfigError(f"{str(root)!r} is not a folder: give the folder to watch")
    root = root.resolve()
    rules = IgnoreRules.for_directory(
        root, target.ignore, defaults=target.default_ignores, state_dir=settings.data_dir
    )
    options = WatchOptions(
        root=root,
        who=Identity(target.tenant, target.session, target.user),
        rules=rules,
        baseline=state_file(settings.data_dir, target.tenant, target.session, root),
        settle_s=settings.watch_settle_s,
    )
    watcher: Watcher

    def stopping() -> bool:
        return watcher.stopping

    # a refused certificate stops the watcher with one line; other connection errors are the
    # publisher's to retry and report, without nats-py's tracebacks
    connect = {**nats_connect_options(settings), **CertificateRefusal(settings).callbacks()}
    publisher = Publisher(settings.nats_url, connect, stopping)
    watcher = Watcher(options, publisher, Progress(out))
    return watcher


async def watch_until_stopped(
    watcher: Watcher, stop: asyncio.Event, ready: Callable[[], None] | None = None
) -> None:
    """Run until `stop` is set; then publish what is pending and return."""

    async def relay() -> None:
        await stop.wait()
        watcher.stop()

    relay_task = asyncio.create_task(relay())
    try:
        await watcher.run(ready)
    finally:
        relay_task.cancel()
        await watcher.publisher.close()
