"""Process lifecycles: `run` (the whole system on one machine), `worker`, `scheduler`.

Ctrl-C or SIGTERM sets one stop event; each part finishes what it holds and stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlparse

from workers.app import build_worker, run_until_stopped
from workers.nats_server import LocalNatsServer, reachable
from workers.settings import Settings

log = logging.getLogger(__name__)

Part = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_workers(settings: Settings, stop: asyncio.Event) -> None:
    worker = build_worker(settings)
    log.info("workers consuming from %s into %s", settings.nats_url, settings.store_url)
    await run_until_stopped(worker, stop)


async def run_scheduler_part(settings: Settings, stop: asyncio.Event) -> None:
    from workers.jobs.scheduler import run_scheduler

    await run_scheduler(settings, stop)


async def run_parts(settings: Settings, parts: list[Part]) -> None:
    """Run the parts until a signal; if one fails, stop the others and re-raise."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    tasks = [asyncio.create_task(part(settings, stop)) for part in parts]
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def start_local_nats(settings: Settings) -> LocalNatsServer | None:
    """Start nats-server for `run` unless NATS_URL already answers."""
    if reachable(settings.nats_url):
        log.info("using the NATS server at %s", settings.nats_url)
        return None
    parsed = urlparse(settings.nats_url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ConnectionError(f"NATS_URL {settings.nats_url} is not reachable")
    server = LocalNatsServer(
        settings.data_dir / "nats", port=parsed.port or 4222, binary=settings.nats_server_bin
    )
    server.start()
    log.info("started nats-server on %s (JetStream data in %s)", server.url, server.data_dir)
    return server


async def run_system(settings: Settings) -> None:
    server = await asyncio.to_thread(start_local_nats, settings)
    parts: list[Part] = [run_workers]
    if settings.scheduler_enabled:
        parts.append(run_scheduler_part)
    try:
        await run_parts(settings, parts)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
            log.info("nats-server stopped")
