"""Retention benchmark: the audit purge's cost follows what expired, not what is stored.

    .venv/bin/python bench/bench_retention.py [--n 1000000] [--expired 0.9] [--batch 500]

1. seeds N audit events in one tenant (a fraction --expired older than the retention period),
   in a child process so that this one's peak memory is the purge's alone;
2. times the audit purge (and its slowest batch transaction), its peak RSS growth (which
   includes SQLite's page cache, capped at 256 MiB by the engine's PRAGMA cache_size) and the
   Python heap's peak over a window of batches (tracemalloc);
3. seeds N events none of which has expired, in a second store, and times a run over them.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from events.audit_types import AuditEventType
from workers.config import Config
from workers.ids import uuid7
from workers.jobs.executor import run_job
from workers.jobs.summary import JobProgress
from workers.records import Audit
from workers.repositories import Repositories
from workers.store import open_store
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

NOW = datetime(2025, 6, 1, tzinfo=UTC)
RETENTION_DAYS = 90.0
SEED_BATCH = 5000  # events per seeding transaction (~4 MB written: under the 10 MB limit)
USERS = [uuid.UUID(int=i + 1) for i in range(100)]
DAY_S = 86_400
TRACE_FROM, TRACE_UNTIL = 20, 30  # tracemalloc slows what it watches: only these batches


def seed(db: Path, n: int, expired: float, tenant: uuid.UUID) -> dict[str, float]:
    """Write n events straight through the repository, many per transaction."""
    store, repos, rng = SqliteStore(db), Repositories(), random.Random(7)
    n_expired = round(n * expired)
    started = time.perf_counter()
    for first in range(0, n, SEED_BATCH):
        batch = []
        for i in range(first, min(first + SEED_BATCH, n)):
            old = i < n_expired  # ages: expired 91-400 days, live 0-89 days
            age_s = rng.uniform(91 * DAY_S, 400 * DAY_S) if old else rng.uniform(0, 89 * DAY_S)
            batch.append(
                Audit.model_construct(  # trusted, well-typed values: skip validation
                    id=uuid7(),
                    tenant_id=tenant,
                    event_type=AuditEventType.USER_LOGIN,
                    user_id=USERS[i % len(USERS)],
                    workspace_session_id=None,
                    event_id=None,
                    event_data={"source": "bench"},
                    ip_address="10.0.0.1",
                    user_agent=None,
                    occurred_at=NOW - timedelta(seconds=age_s),
                )
            )

        def write(tr: Transaction, batch: list[Audit] = batch) -> None:
            for audit in batch:
                repos.audit.add(tr, audit)
            repos.tenants.mark_seen(tr, tenant)

        store.transact_sync(write)
    seconds = time.perf_counter() - started
    store.close_sync()
    return {"seeded": n, "expired": n_expired, "seed_s": seconds}


def seed_in_child(db: Path, n: int, expired: float, tenant: uuid.UUID) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--seed", str(db), "--n", str(n), "--expired", str(expired)]
    out = subprocess.run([*cmd, "--tenant", str(tenant)], check=True, capture_output=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def timed_purge(db: Path, batch: int) -> dict[str, float]:
    store = open_store(f"sqlite:///{db}")
    settings = Config(_env_file=None, store_url=f"sqlite:///{db}", purge_batch_size=batch)
    gaps: list[float] = []
    heap_peak: list[int] = []
    last = [time.perf_counter()]

    def progress(p: JobProgress) -> None:
        if p.batches == TRACE_FROM:  # the Python heap over a window of steady-state batches
            tracemalloc.start()
        elif p.batches == TRACE_UNTIL:
            heap_peak.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        now = time.perf_counter()
        if not TRACE_FROM < p.batches <= TRACE_UNTIL:  # batch times without tracing's overhead
            gaps.append(now - last[0])
        last[0] = now

    rss_before = maxrss_mb()
    started = time.perf_counter()
    summary = await run_job(
        "audit", store, Repositories(), settings, clock=lambda: NOW, progress=progress
    )
    seconds = time.perf_counter() - started
    await store.close()
    gaps.sort()
    return {
        "removed": summary.removed,
        "batches": summary.batches,
        "purge_s": seconds,
        "per_s": summary.removed / seconds if seconds else 0.0,
        "batch_p50_ms": gaps[len(gaps) // 2] * 1000,
        "batch_max_ms": gaps[-1] * 1000,
        "rss_growth_mb": maxrss_mb() - rss_before,
        "rss_peak_mb": maxrss_mb(),
        "heap_peak_mb": heap_peak[0] / 2**20 if heap_peak else 0.0,
    }


def report(
    n: int, seeded: dict[str, float], purge: dict[str, float], live: dict[str, float]
) -> None:
    rows = [
        ("events seeded (expired)", f"{n:,} ({int(seeded['expired']):,})"),
        ("seeding", f"{seeded['seed_s']:.1f} s ({n / seeded['seed_s']:,.0f}/s)"),
        ("audit purge: removed", f"{int(purge['removed']):,} in {int(purge['batches']):,} batches"),
        ("audit purge: time", f"{purge['purge_s']:.1f} s ({purge['per_s']:,.0f}/s)"),
        (
            "batch transaction p50/max",
            f"{purge['batch_p50_ms']:.0f} / {purge['batch_max_ms']:.0f} ms",
        ),
        (
            "peak RSS growth (peak)",
            f"{purge['rss_growth_mb']:.0f} MB ({purge['rss_peak_mb']:.0f} MB)",
        ),
        (
            f"python heap peak, batches {TRACE_FROM}-{TRACE_UNTIL}",
            f"{purge['heap_peak_mb']:.1f} MB",
        ),
        ("live events seeded", f"{int(live['seeded']):,} in {live['seed_s']:.1f} s"),
        (
            "run with nothing expired",
            f"{live['purge_s'] * 1000:.1f} ms, removed {int(live['removed'])}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(json.dumps({"n": n, "seed": seeded, "purge": purge, "live": live}))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-retention-", dir=args.dir) as tmp:
        expired_db, live_db = Path(tmp) / "expired.db", Path(tmp) / "live.db"
        seeded = seed_in_child(expired_db, args.n, args.expired, uuid.uuid4())
        purge = await timed_purge(expired_db, args.batch)
        assert purge["removed"] == seeded["expired"], (purge, seeded)
        live_seed = seed_in_child(live_db, args.n, 0.0, uuid.uuid4())
        live = await timed_purge(live_db, args.batch)
        report(args.n, seeded, purge, {**live_seed, **live})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="events to seed")
    parser.add_argument("--expired", type=float, default=0.9, help="fraction already expired")
    parser.add_argument("--batch", type=int, default=500, help="PURGE_BATCH_SIZE")
    parser.add_argument("--dir", default=None, help="where the temporary stores go")
    parser.add_argument("--seed", type=Path, help=argparse.SUPPRESS)  # child: seed this file
    parser.add_argument("--tenant", type=uuid.UUID, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        print(json.dumps(seed(args.seed, args.n, args.expired, args.tenant)))
    else:
        asyncio.run(main(args))
