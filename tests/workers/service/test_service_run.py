"""`python -m workers run` (what `make run` runs): the whole system on one machine starts,
stores what is published, and stops on Ctrl-C with nothing left behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.helpers import eventually, start_workers
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import aget, wait_ready
from workers.config import Config
from workers.nats.local_server import LocalNatsServer, free_port, reachable
from workers.service.wiring import open_configured_store, repositories

GRACE_S = 10.0
STOP_WITHIN_S = GRACE_S + 10.0  # the grace, then closing connections, files and nats-server


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (pid -> command line), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                found[child] = command_line(child)
                frontier.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running, or stopped: anything but gone or a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def run_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m workers run` in a directory of its own, on free ports, in its own process
    group as a terminal starts it. Killed, with its group, at teardown if still there."""
    env = {
        **os.environ,
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "STORE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(free_port()),
        "SHUTDOWN_GRACE_S": str(GRACE_S),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    proc = start_workers(env, tmp_path, "run", log="run.log", new_group=True)
    proc.env = env  # type: ignore[attr-defined]
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "kill-int"])
async def test_run_starts_everything_stores_an_event_and_stops_on_ctrl_c_leaving_nothing(
    run_process: subprocess.Popen[bytes], to_group: bool
) -> None:
    """One command is the whole system: its own nats-server, the workers and the scheduler on
    one store. SIGINT stops all of it, exit 0, no process or port left behind for the next
    `make run`: from a terminal's Ctrl-C (the whole process group, nats-server included) and
    from `kill -INT` (`run` alone: it must stop the nats-server it started)."""
    env: dict[str, str] = run_process.env  # type: ignore[attr-defined]
    nats_url, metrics_port = env["NATS_URL"], int(env["METRICS_PORT"])
    await wait_ready(metrics_port, run_process, timeout=60)
    _, body = await aget(metrics_port, "/readyz")
    checks = {"nats": "ok", "store": "ok", "consumers": "ok", "scheduler": "ok", "reads": "ok"}
    assert json.loads(body) == {"ready": True, "checks": checks}
    children = descendants(run_process.pid)
    servers = [pid for pid, cmd in children.items() if "nats-server" in cmd]
    assert len(servers) == 1, children
    assert reachable(nats_url)

    tenant, conversation = uuid.uuid4(), uuid.uuid4()
    nc = await nats.connect(nats_url)
    try:
        event = message_sent(tenant, conversation, tokens=7)
        ack = await nc.jetstream().publish(
            "message.sent", dumps(event), headers={"Nats-Msg-Id": event["event_id"]}
        )
        assert ack.stream == "EVENTS"
    finally:
        await nc.close()
    settings = Config(_env_file=None, store_url=env["STORE_URL"])  # type: ignore[call-arg]
    store, repos = open_configured_store(settings), repositories(settings)
    try:

        async def stored() -> bool:
            counts = await store.transact(
                lambda tr: repos.conversations.counts(tr, tenant, conversation)
            )
            return counts == (1, 7)

        await eventually(stored, timeout=30, what="the event stored by `run`'s workers")
    finally:
        await store.close()

    children = descendants(run_process.pid)  # the preparing processes too, if started
    if to_group:
        os.killpg(run_process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        run_process.send_signal(signal.SIGINT)
    code = await asyncio.to_thread(run_process.wait, STOP_WITHIN_S)
    log = run_process.log_path.read_text()  # type: ignore[attr-defined]
    assert code == 0, log[-3000:]
    left = {pid: cmd for pid, cmd in children.items() if alive(pid)}
    assert not left, f"left behind: {left}"
    assert not reachable(nats_url), "the NATS port is still taken"
    assert not reachable(f"nats://127.0.0.1:{metrics_port}"), "the metrics port is still taken"
    assert "nats-server stopped" in log


async def test_run_uses_a_nats_server_that_already_answers_and_leaves_it_running(
    tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    """`run` starts nats-server only when NATS_URL does not answer; one it did not start is
    not its to stop."""
    metrics_port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "STORE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(metrics_port),
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    proc = start_workers(env, tmp_path, "run", log="run.log", new_group=True)
    log_path = proc.log_path  # type: ignore[attr-defined]
    try:
        await wait_ready(metrics_port, proc, timeout=60)
        _, body = await aget(metrics_port, "/readyz")
        assert set(json.loads(body)["checks"]) == {"nats", "store", "consumers", "reads"}
        assert not any("nats-server" in cmd for cmd in descendants(proc.pid).values())
        os.killpg(proc.pid, signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, STOP_WITHIN_S) == 0, log_path.read_text()
        assert reachable(nats_server.url)
        assert not (tmp_path / "data" / "nats").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
