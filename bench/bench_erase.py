"""`make bench-erase`: `subject export` and `subject erase` of a user with 100,000 messages.

The store is filled through the `Ingestor` (no NATS), so it holds exactly what the workers
write for each message.sent: the message, its conversation's index entries and counters, its
audit record and its indexes. Another user's 1,000 messages sit beside. Then `python -m
workers subject export` and `subject erase` run as processes of their own, timed, with their
peak resident memory (the kernel's maximum RSS of each child): both read page by page, so the
peak should not grow with the user's size. Figures only, no thresholds.

Usage: python bench/bench_erase.py [--messages 100000] [--conversations 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from workers.config import Config  # noqa: E402
from workers.ingest.ingestor import Ingestor  # noqa: E402
from workers.ingest.outcomes import Incoming  # noqa: E402
from workers.nats.local_server import LocalNatsServer  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.repositories import Repositories  # noqa: E402
from workers.store.sqlite import SqliteStore  # noqa: E402

BATCH = 2000
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def message(tenant: uuid.UUID, user: uuid.UUID, conversation: uuid.UUID, i: int) -> bytes:
    at = (T0 + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": str(tenant),
            "user_id": str(user),
            "occurred_at": at,
            "source": "ide",
            "ip_address": "203.0.113.42",
            "user_agent": "ide-desktop/1.42.0",
            "conversation_id": str(conversation),
            "message_id": str(uuid.uuid4()),
            "role": "user",
            "content": "How should I refactor the auth module? " * 8,
            "token_count": 150,
        }
    ).encode()


async def fill(
    db: Path, tenant: uuid.UUID, user: uuid.UUID, other: uuid.UUID, n: int, conversations: int
) -> None:
    store = SqliteStore(db)
    ingestor = Ingestor(store, Repositories())
    convs = [uuid.uuid4() for _ in range(conversations)]
    bodies = [message(tenant, user, convs[i % conversations], i) for i in range(n)]
    bodies += [message(tenant, other, uuid.uuid4(), i) for i in range(1000)]
    try:
        for start in range(0, len(bodies), BATCH):
            batch = [Incoming("message.sent", b) for b in bodies[start : start + BATCH]]
            results = await ingestor.apply(batch)
            assert all(r.outcome.value == "applied" for r in results), results[:3]
            print(f"\rfilled {start + len(batch):,} / {len(bodies):,}", end="", file=sys.stderr)
    finally:
        await store.close()
    print(file=sys.stderr)


MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)
"""A small parent for the measured command: a child's peak RSS starts from its parent's at the
fork, so this bench's own (the filled store's events) must not be that parent."""


def timed(db: Path, nats_url: str, *args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of `python -m workers ARGS` as its own process."""
    env = {**os.environ, "STORE_URL": f"sqlite:///{db}", "LOG_LEVEL": "WARNING"}
    env["NATS_URL"] = nats_url
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "workers", *args]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"workers {' '.join(args)} failed: {done.stderr[-500:]}")
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024, done.stdout.strip()


async def provision(url: str) -> None:
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream(), Config(nats_url=url, _env_file=None))
    await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--conversations", type=int, default=10)
    args = ap.parse_args()
    tenant, user, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with tempfile.TemporaryDirectory(prefix="bench-erase-") as tmp:
        db = Path(tmp) / "store.db"
        t = time.perf_counter()
        asyncio.run(fill(db, tenant, user, other, args.messages, args.conversations))
        print(f"store filled in {time.perf_counter() - t:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")
        who = ("--tenant", str(tenant), "--user", str(user))
        small = ("--tenant", str(tenant), "--user", str(other))
        with LocalNatsServer(Path(tmp) / "nats") as server:  # erase looks for dead letters
            asyncio.run(provision(server.url))
            url = server.url
            export_s, export_mb, _ = timed(db, url, "subject", "export", *who, "--out", f"{tmp}/e")
            erase_s, erase_mb, erased = timed(db, url, "subject", "erase", *who, "--json")
            # the same for the user with 1,000 messages: a peak that does not grow with the user
            small_export = timed(db, url, "subject", "export", *small, "--out", f"{tmp}/s")
            small_erase = timed(db, url, "subject", "erase", *small, "--json")
    counts = json.loads(erased)["counts"]
    print(f"subject export : {export_s:6.1f} s, peak RSS {export_mb:5.0f} MB")
    print(f"subject erase  : {erase_s:6.1f} s, peak RSS {erase_mb:5.0f} MB   {counts}")
    print(
        f"a user with 1,000 messages: export {small_export[0]:.1f} s, {small_export[1]:.0f} MB; "
        f"erase {small_erase[0]:.1f} s, {small_erase[1]:.0f} MB"
    )
    print(
        json.dumps(
            {
                "messages": args.messages,
                "export_s": round(export_s, 1),
                "export_peak_rss_mb": round(export_mb),
                "erase_s": round(erase_s, 1),
                "erase_peak_rss_mb": round(erase_mb),
                "small_user_peak_rss_mb": round(max(small_export[1], small_erase[1])),
                "counts": counts,
            }
        )
    )


if __name__ == "__main__":
    main()
