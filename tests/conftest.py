"""Shared fixtures: a real nats-server per test, a real SQLite store file, worker factories."""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from tests.helpers import TEST_STORE_URL, fresh_key_root, start_workers, store_url
from workers.config import Config
from workers.nats.local_server import LocalNatsServer
from workers.service.worker import Worker, build_worker
from workers.store import open_store
from workers.store.keys import Keys

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """No garbage collection while pytest renders a result. In Python 3.11.7, `ast.parse` is
    not reentrant (gh-106905): a collection during pytest's rendering of a failure can run a
    finalizer that logs a traceback, which parses source as well, and the run then ends in an
    INTERNALERROR ("AST constructor recursion depth mismatch") instead of showing the failure."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return (yield)
    finally:
        if enabled:
            gc.enable()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[LocalNatsServer]:
    """A real nats-server: JetStream on, 127.0.0.1, a free port, its own storage directory."""
    server = LocalNatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def key_root() -> AsyncIterator[str]:
    """This test's key root; on a shared store (TEST_STORE_URL) its keys are cleared after."""
    root = fresh_key_root()
    yield root
    if TEST_STORE_URL:
        store = open_store(TEST_STORE_URL)
        await store.transact(lambda tr: tr.clear_range(*Keys((root,)).everything()))
        await store.close()


@pytest.fixture
def settings(tmp_path: Path, nats_server: LocalNatsServer, key_root: str) -> Config:
    return Config(
        nats_url=nats_server.url,
        store_url=store_url(tmp_path / "store.db"),
        key_root=key_root,
        batch_size=100,
        nak_delay_s=0.05,
        data_dir=tmp_path / "data",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def producer(nats_server: LocalNatsServer) -> AsyncIterator[Client]:
    """A plain nats-py connection, as the IDE or the file-monitor would have."""
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


@pytest.fixture
async def start_worker() -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    """Start in-process workers (real broker, real store); all are stopped at teardown."""
    started: list[Worker] = []

    async def start(settings: Config, **overrides: Any) -> Worker:
        worker = build_worker(settings.model_copy(update=overrides))
        await worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m workers worker` as an OS process (to SIGKILL it); killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(settings: Config, **env: str) -> subprocess.Popen[bytes]:
        environ = {
            **os.environ,
            "NATS_URL": settings.nats_url,
            "STORE_URL": settings.store_url,
            "KEY_ROOT": settings.key_root,
            "BATCH_SIZE": str(settings.batch_size),
            "NAK_DELAY_S": str(settings.nak_delay_s),
            "LOG_LEVEL": "WARNING",
            "METRICS_PORT": "0",  # off: several run at once (pass a free port to read /metrics)
            **env,
        }
        proc = start_workers(environ, tmp_path, "worker", log=f"worker-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
