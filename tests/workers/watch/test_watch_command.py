"""`python -m workers watch` as a user runs it: a ready line, progress, Ctrl-C exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.helpers import cli, eventually
from tests.workers.observability.obs_support import aget, wait_ready
from tests.workers.watch.watch_support import store_tree
from workers.config import Config
from workers.nats.local_server import LocalNatsServer, free_port
from workers.service.wiring import open_configured_store, repositories
from workers.watch.runner import WatchTarget


async def test_the_command_publishes_the_folder_and_exits_0_on_ctrl_c(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text("print('a')\n")
    t = WatchTarget(root, uuid.uuid4(), uuid.uuid4())
    env = {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    args = ["watch", str(root), "--tenant", str(t.tenant), "--session", str(t.session)]
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", *args], env=env, stdout=o, stderr=e
        )
    try:
        await eventually(lambda: "watching" in out.read_text(), what="the ready line")
        (root / "b.py").write_text("print('b')\n")
        await eventually(
            lambda: _paths(worker, t, {"a.py", "b.py"}), what="both files in the store"
        )
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "scanned 1 files, hashed 1" in err.read_text()
    assert "Traceback" not in err.read_text()
    assert list((tmp_path / "data" / "watch" / str(t.tenant) / str(t.session)).glob("*.db"))


async def _paths(worker, t, want: set[str]) -> bool:  # type: ignore[no-untyped-def]
    return set(await store_tree(worker, t)) == want


def test_a_folder_that_does_not_exist_is_one_line_and_exit_2(tmp_path: Path) -> None:
    r = cli(
        "nats://127.0.0.1:1",
        f"sqlite:///{tmp_path / 's.db'}",
        "watch",
        str(tmp_path / "missing"),
        "--tenant",
        str(uuid.uuid4()),
        "--session",
        str(uuid.uuid4()),
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "is not a folder" in r.stderr and "Traceback" not in r.stderr


def test_without_a_session_it_says_what_to_give(tmp_path: Path) -> None:
    r = cli("nats://127.0.0.1:1", f"sqlite:///{tmp_path / 's.db'}", "watch", str(tmp_path))
    assert r.returncode == 2
    assert "--tenant and --session" in r.stderr and "Traceback" not in r.stderr


async def test_run_with_watch_dir_includes_the_watcher(
    tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    """`WATCH_DIR=… make run`: the README's "watch a folder", as a user runs it."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text("a = 1\n")
    tenant, session, metrics_port = uuid.uuid4(), uuid.uuid4(), free_port()
    store_url = f"sqlite:///{tmp_path / 'workers.db'}"
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "STORE_URL": store_url,
        "DATA_DIR": str(tmp_path / "data"),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(metrics_port),
        "SCHEDULER_ENABLED": "false",
        "WATCH_DIR": str(root),
        "WATCH_TENANT": str(tenant),
        "WATCH_SESSION": str(session),
        "LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "run"], env=env, stdout=log, stderr=log
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    settings = Config(_env_file=None, store_url=store_url)  # type: ignore[call-arg]
    store, repos = open_configured_store(settings), repositories(settings)

    async def paths() -> set[str]:
        page = await store.read(lambda tr: repos.files.list_by_session(tr, tenant, session))
        return {f.file_path for f in page.items}

    try:
        await wait_ready(metrics_port, proc, timeout=60)
        _, body = await aget(metrics_port, "/readyz")
        assert json.loads(body)["checks"]["watcher"] == "ok"
        (root / "b.py").write_text("b = 2\n")
        await eventually(
            lambda: _equals(paths(), {"a.py", "b.py"}), what="the folder's files in the store"
        )
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log_path.read_text()[-2000:]
    finally:
        await store.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _equals(got, want) -> bool:  # type: ignore[no-untyped-def]
    return await got == want
