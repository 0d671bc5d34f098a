"""The multi-tenant mode as a user runs it: `tenants add`, then `run` with the watcher of one
tenant inside it; the commands an operator types (`publish`, `status`, `query`) connect as
the workers' account without being told."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path

from tests.helpers import eventually, run_workers, start_workers
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import wait_ready
from workers.nats.local_server import free_port

STOP_WITHIN_S = 30.0


def multi_tenant_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """`run` in the multi-tenant mode on free ports, its store and DATA_DIR in `tmp_path`."""
    return {
        **os.environ,
        "MULTI_TENANT": "true",
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "STORE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        **settings,
    }


async def test_run_with_a_tenants_watcher_and_the_operators_commands(tmp_path: Path) -> None:
    tenant, session = uuid.uuid4(), uuid.uuid4()
    watched = tmp_path / "project"
    watched.mkdir()
    (watched / "a.py").write_text("print('a')\n")
    metrics_port = free_port()
    env = multi_tenant_env(
        tmp_path,
        METRICS_HOST="127.0.0.1",
        METRICS_PORT=str(metrics_port),
        SCHEDULER_ENABLED="false",
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
    )
    added = run_workers(env, "tenants", "add", str(tenant))
    assert added.returncode == 0, added.stderr
    watching = {
        **env,
        "WATCH_DIR": str(watched),
        "WATCH_TENANT": str(tenant),
        "WATCH_SESSION": str(session),
    }
    proc = start_workers(watching, tmp_path, "run", log="run.log", new_group=True)
    log_path = proc.log_path  # type: ignore[attr-defined]
    try:
        await wait_ready(metrics_port, proc, timeout=60)

        def files() -> list[str]:
            out = run_workers(
                env, "query", "files", "--tenant", str(tenant), "--session", str(session), "--json"
            )
            assert out.returncode == 0, out.stderr
            return sorted(f["file_path"] for f in json.loads(out.stdout))

        await eventually(lambda: files() == ["a.py"], timeout=30, what="the first scan stored")
        (watched / "b.py").write_text("print('b')\n")
        await eventually(lambda: files() == ["a.py", "b.py"], timeout=30, what="b.py stored")
        registry = json.loads((tmp_path / "data" / "tenancy" / "tenants.json").read_text())
        roles = [c["role"] for c in registry["tenants"][str(tenant)]["creds"]]
        assert roles == ["file-monitor"]  # the watcher's, issued by `run`

        # the operator's `publish` is the workers' user: each event goes on its tenant's subject
        event = message_sent(tenant, uuid.uuid4(), tokens=3)
        line = json.dumps({"subject": "message.sent", **json.loads(dumps(event))})
        published = run_workers(env, "publish", "-", stdin=line + "\n")
        assert published.returncode == 0, published.stdout + published.stderr
        assert "1 stored" in published.stdout
        status = run_workers(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        unrouted = run_workers(env, "publish", "-", "--subject", "message.sent", stdin="{}\n")
        assert unrouted.returncode == 2
        assert unrouted.stderr.startswith("error: ") and "tenant_id" in unrouted.stderr
        assert "Traceback" not in unrouted.stderr

        os.killpg(proc.pid, signal.SIGINT)
        code = await asyncio.to_thread(proc.wait, STOP_WITHIN_S)
        assert code == 0, log_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_run_refuses_a_watcher_of_a_tenant_not_added(tmp_path: Path) -> None:
    watched = tmp_path / "project"
    watched.mkdir()
    tenant = uuid.uuid4()
    env = multi_tenant_env(
        tmp_path,
        METRICS_PORT="0",
        WATCH_DIR=str(watched),
        WATCH_TENANT=str(tenant),
        WATCH_SESSION=str(uuid.uuid4()),
    )
    out = run_workers(env, "run")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"configuration error: WATCH_TENANT: tenant {tenant} is not active: "
        f"`workers tenants add {tenant}`"
    ]


def test_run_with_a_wrong_workers_password_stops_with_one_line(tmp_path: Path) -> None:
    env = multi_tenant_env(
        tmp_path, METRICS_PORT="0", NATS_USER="workers", NATS_PASSWORD="not-the-password"
    )
    out = run_workers(env, "run")
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if not x.startswith(("{", "INFO", "WARNING"))]
    assert line.startswith("configuration error: NATS at nats://127.0.0.1:")
    assert "refused the credentials" in line
