"""The sealed trail through a real retention purge, a SIGKILL mid-seal, and 1021 retries."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from audit_support import KEYS, Raw, audit_records, run, shape, write_key, write_records

from tests.helpers import eventually


def test_after_a_real_retention_purge_verify_passes_and_reports_it(tmp_path: Path) -> None:
    key, _ = write_key(tmp_path, "a")
    env = {"AUDIT_SIGNING_KEY_FILE": str(key), "AUDIT_SEAL_WINDOW": "6"}
    tenant, now = uuid4(), datetime.now(UTC)
    old = audit_records(tenant, 10, now - timedelta(days=200), timedelta(minutes=1))
    new = audit_records(tenant, 10, now - timedelta(days=1), timedelta(minutes=1))
    db = tmp_path / "store.db"
    write_records(db, old + new)
    assert run(db, "audit", "seal", **env).returncode == 0
    purge = run(db, "cleanup", "audit", "--older-than-days", "100", "--json", **env)
    assert purge.returncode == 0, purge.stderr
    receipt = json.loads(purge.stdout)["tenants"][0]["receipt_id"]
    done = run(db, "audit", "verify", "--tenant", str(tenant), "--json", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["purged"] == 10 and report["records"] == 10
    assert {p["run_id"] for p in report["purges"]} == {receipt}
    assert sum(p["count"] for p in report["purges"]) == 10
    # the receipt itself is a new audit record, queued for the next seal
    assert report["unsealed"] == 1
    with Raw(db) as raw:  # a deletion outside the purge still fails
        assert raw.delete(KEYS.tenant(tenant).audit.key(new[5].id)) == 1
    done = run(db, "audit", "verify", "--tenant", str(tenant), **env)
    assert done.returncode == 1
    assert f"record {new[5].id}" in done.stderr and "outside the retention purge" in done.stderr


def test_a_forged_purge_statement_does_not_authorize_a_deletion(tmp_path: Path) -> None:
    """Copying a real statement to another window's key does not cover that window."""
    key, _ = write_key(tmp_path, "a")
    env = {"AUDIT_SIGNING_KEY_FILE": str(key), "AUDIT_SEAL_WINDOW": "5"}
    tenant, now = uuid4(), datetime.now(UTC)
    old = audit_records(tenant, 5, now - timedelta(days=200), timedelta(minutes=1))
    new = audit_records(tenant, 5, now - timedelta(days=1), timedelta(minutes=1))
    db = tmp_path / "store.db"
    write_records(db, old + new)
    assert run(db, "audit", "seal", **env).returncode == 0
    assert run(db, "cleanup", "audit", "--older-than-days", "100", **env).returncode == 0
    tk = KEYS.tenant(tenant)
    with Raw(db) as raw:
        (_, v) = raw.conn.execute(
            "SELECT k, v FROM kv WHERE k >= ? AND k < ?", tk.audit_purges.range()
        ).fetchone()
        raw.put(tk.audit_purges.key(1, 5), bytes(v))
        raw.delete(tk.audit.key(new[0].id))
    done = run(db, "audit", "verify", "--tenant", str(tenant), **env)
    assert done.returncode == 1
    assert "window 1: a purge statement does not match the log" in done.stderr


def _sealed_copy(tmp_path: Path, n: int, env: dict[str, str]) -> tuple[Path, Path, object]:
    tenant = uuid4()
    records = audit_records(tenant, n, datetime(2026, 1, 1, tzinfo=UTC), timedelta(seconds=1))
    a = tmp_path / "a.db"
    write_records(a, records)
    b = tmp_path / "b.db"
    shutil.copy(a, b)
    assert run(a, "audit", "seal", **env).returncode == 0  # uninterrupted
    return a, b, tenant


async def test_a_seal_killed_mid_run_and_resumed_gives_the_same_checkpoints(
    tmp_path: Path,
) -> None:
    key, _ = write_key(tmp_path, "a")
    env = {"AUDIT_SIGNING_KEY_FILE": str(key), "AUDIT_SEAL_WINDOW": "1"}
    a, b, tenant = await asyncio.to_thread(_sealed_copy, tmp_path, 300, env)
    env["LEASE_TTL_S"] = "0.5"  # the killed run's lease lapses at once
    full = {**os.environ, "STORE_URL": f"sqlite:///{b}", "LOG_LEVEL": "WARNING", **env}
    full.pop("TEST_STORE_URL", None)
    child = subprocess.Popen([sys.executable, "-m", "workers", "audit", "seal"], env=full)
    try:

        def some_sealed() -> bool:
            with Raw(b) as raw:
                return len(raw.checkpoints(tenant)) >= 5  # type: ignore[arg-type]

        await eventually(some_sealed, timeout=60, what="the first windows sealed")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    with Raw(b) as raw:
        interrupted = len(raw.checkpoints(tenant))  # type: ignore[arg-type]
    assert 5 <= interrupted < 300, "the kill landed after the seal finished"
    resumed = []

    def resume() -> bool:  # until the killed run's lease (0.5 s) has lapsed
        resumed.append(run(b, "audit", "seal", **env))
        return "holds the lease" not in resumed[-1].stdout

    await eventually(resume, timeout=30, what="the killed seal's lease to lapse")
    assert resumed[-1].returncode == 0, resumed[-1].stdout + resumed[-1].stderr
    with Raw(a) as ra, Raw(b) as rb:
        assert shape(rb.checkpoints(tenant)) == shape(ra.checkpoints(tenant))  # type: ignore[arg-type]
    assert run(b, "audit", "verify", "--tenant", str(tenant), **env).returncode == 0


def test_sealing_under_1021_retries_gives_the_same_checkpoints(tmp_path: Path) -> None:
    key, _ = write_key(tmp_path, "a")
    env = {"AUDIT_SIGNING_KEY_FILE": str(key), "AUDIT_SEAL_WINDOW": "4"}
    a, b, tenant = _sealed_copy(tmp_path, 40, env)
    faulty = run(b, "audit", "seal", STORE_FAULTS="1021:0.5,seed:3", LOG_LEVEL="WARNING", **env)
    assert faulty.returncode == 0, faulty.stderr
    assert "1021" in faulty.stderr  # the faults fired
    with Raw(a) as ra, Raw(b) as rb:
        assert shape(rb.checkpoints(tenant)) == shape(ra.checkpoints(tenant))  # type: ignore[arg-type]
        assert len(ra.checkpoints(tenant)) == 10  # type: ignore[arg-type]
