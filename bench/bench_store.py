"""Store benchmark: repository writes per second, next to naive raw writes of the same keys.

    .venv/bin/python bench/bench_store.py [--n 20000]

For batch sizes 1, 100 and 500 (events per transaction), two writers on two fresh SQLite
files, taking turns every 2,000 events so that machine noise falls on both alike:

- repo:  what the workers do for message.sent, through the repositories: one dedupe read for
         the batch, `MessageRepository.create_many`, `AuditRepository.add`, the dedupe mark,
         counters by atomic `add`, tenant prefixes packed once.
- naive: the same keys and values on the same `Transaction` API, written the way
         bench/naive_baseline.py writes them: `fdb.tuple.pack` of the full tuple per
         key, a read of the dedupe mark per event, read-modify-write counters.

Model objects and dicts are built before the clock starts; JSON encoding and key packing are
timed. The key sets of the two files are compared afterwards. Prints a table, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import fdb.tuple as fdbtuple

from events.audit_types import AuditEventType
from events.enums import MessageRole
from workers.ids import day_of, to_ms, uuid7
from workers.records import Audit, Message
from workers.repositories import Repositories
from workers.store.port import Transaction, decode_int64, encode_int64
from workers.store.sqlite import SqliteStore

ROOT = "ide"  # Keys() default root: ("ide",)
BATCHES = (1, 100, 500)
CONTENT = "How should I refactor the auth module? " * 8
START = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
SEGMENT = 2000  # events one writer writes before the other takes its turn


@dataclass(frozen=True)
class Event:
    tenant: uuid.UUID
    event_id: uuid.UUID
    applied_ms: int
    message: Message
    audit: Audit
    message_json: dict[str, Any]  # the naive writer encodes these itself
    audit_json: dict[str, Any]


Writer = Callable[[list[Event]], Callable[[Transaction], None]]  # a batch -> its transaction


def make_events(n: int) -> list[Event]:
    tenant, user = uuid.uuid4(), uuid.uuid4()
    conversations = [uuid.uuid4() for _ in range(20)]
    out = []
    for i in range(n):
        when = START + timedelta(milliseconds=i)
        message = Message(
            tenant_id=tenant,
            id=uuid.uuid4(),
            conversation_id=conversations[i % 20],
            user_id=user,
            role=MessageRole.USER,
            content=CONTENT,
            model="qwen/qwq-32b",
            token_count=150,
            created_at=when,
        )
        event_id = uuid.uuid4()
        audit = Audit(
            tenant_id=tenant,
            id=uuid7(to_ms(when)),
            event_type=AuditEventType.MESSAGE_SENT,
            user_id=user,
            event_id=event_id,
            event_data={"source": "ide", "message_id": str(message.id), "token_count": 150},
            occurred_at=when,
        )
        out.append(
            Event(
                tenant,
                event_id,
                to_ms(when),
                message,
                audit,
                message.model_dump(mode="json"),
                audit.model_dump(mode="json"),
            )
        )
    return out


def repo_writer(repos: Repositories) -> Writer:
    def batch_fn(batch: list[Event]) -> Callable[[Transaction], None]:
        def fn(tr: Transaction) -> None:
            done = repos.applied.applied(tr, [(e.tenant, e.event_id) for e in batch])
            fresh = [e for e, applied in zip(batch, done, strict=True) if not applied]
            repos.messages.create_many(tr, [e.message for e in fresh])
            for e in fresh:
                repos.audit.add(tr, e.audit)
                repos.applied.mark(tr, e.tenant, e.event_id, e.applied_ms)
            for tenant in {e.tenant for e in batch}:
                repos.tenants.mark_seen(tr, tenant)

        return fn

    return batch_fn


def pack(*items: Any) -> bytes:
    return bytes(fdbtuple.pack((ROOT, *items)))


def naive_writer(_: Repositories) -> Writer:
    def batch_fn(batch: list[Event]) -> Callable[[Transaction], None]:
        def fn(tr: Transaction) -> None:
            for e in batch:
                t, m, a = e.tenant, e.message_json, e.audit_json
                mark = pack(t, "applied", e.event_id)
                if tr.get(mark) is not None:
                    continue
                mid, conv = uuid.UUID(m["id"]), uuid.UUID(m["conversation_id"])
                aid, user = uuid.UUID(a["id"]), uuid.UUID(a["user_id"])
                ms, tokens = e.applied_ms, m["token_count"]
                tr.set(mark, ms.to_bytes(8, "big"))
                tr.set(pack(t, "applied_by_ms", ms, e.event_id), b"")
                tr.set(pack(t, "messages", mid, 0), json.dumps(m).encode())
                tr.set(pack(t, "messages_by_conversation", conv, ms, mid), encode_int64(tokens))
                tr.set(pack(t, "audit", aid), json.dumps(a).encode())
                tr.set(pack(t, "audit_by_event", a["event_type"], ms, aid), b"")
                tr.set(pack(t, "audit_by_date", day_of(ms), ms, aid), b"")
                tr.set(pack(t, "audit_by_user", user, ms, aid), b"")
                for name, delta in (("message_count", 1), ("token_count", tokens)):
                    key = pack(t, "counters", conv, name)
                    tr.set(key, encode_int64(decode_int64(tr.get(key)) + delta))
            for tenant in {e.tenant for e in batch}:
                tr.set(pack("_sys", "tenants", tenant), b"")

        return fn

    return batch_fn


def run_pair(repo_db: Path, naive_db: Path, events: list[Event], batch: int) -> tuple[float, float]:
    """Events per second of (repo, naive), each on its own fresh file.

    The writers take turns, SEGMENT events at a time and leading alternately, so that a noisy
    neighbour or a WAL checkpoint slows both alike rather than whichever ran second.
    """
    repos = Repositories()
    runs: list[tuple[SqliteStore, Writer]] = [
        (SqliteStore(repo_db), repo_writer(repos)),
        (SqliteStore(naive_db), naive_writer(repos)),
    ]
    elapsed = [0.0, 0.0]
    for turn, first in enumerate(range(0, len(events), SEGMENT)):
        segment = events[first : first + SEGMENT]
        for who in (0, 1) if turn % 2 == 0 else (1, 0):
            store, write = runs[who]
            started = time.perf_counter()
            for i in range(0, len(segment), batch):
                store.transact_sync(write(segment[i : i + batch]))
            elapsed[who] += time.perf_counter() - started
    for store, _ in runs:
        store.close_sync()
    return len(events) / elapsed[0], len(events) / elapsed[1]


def key_digest(path: Path) -> tuple[int, str]:
    """How many keys a file holds and a digest of them, to show both writers wrote the same."""
    con = sqlite3.connect(path)
    digest, count = sha256(), 0
    for (key,) in con.execute("SELECT k FROM kv ORDER BY k"):
        digest.update(key)
        count += 1
    con.close()
    return count, digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="events per run (default 20,000)")
    n = parser.parse_args().n
    events = make_events(n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        for batch in BATCHES:
            repo_db, naive_db = Path(tmp) / f"repo-{batch}.db", Path(tmp) / f"naive-{batch}.db"
            repo, naive = run_pair(repo_db, naive_db, events, batch)
            (keys, repo_digest), (_, naive_digest) = key_digest(repo_db), key_digest(naive_db)
            rows.append(
                {
                    "batch": batch,
                    "repo_events_per_s": round(repo),
                    "naive_events_per_s": round(naive),
                    "ratio": round(repo / naive, 2),
                    "keys": keys,
                    "same_keys": repo_digest == naive_digest,
                }
            )
    print(f"store writes, N = {n:,} message.sent events (message + audit + dedupe + counters)")
    print(f"{'batch':>6} {'repo ev/s':>11} {'naive ev/s':>11} {'repo/naive':>11} {'same keys':>10}")
    for r in rows:
        print(
            f"{r['batch']:>6} {r['repo_events_per_s']:>11,} {r['naive_events_per_s']:>11,}"
            f" {r['ratio']:>11.2f} {'yes' if r['same_keys'] else 'NO':>10}"
        )
    print(json.dumps({"bench": "store", "events": n, "results": rows}))


if __name__ == "__main__":
    main()
