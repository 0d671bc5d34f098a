"""The yardstick for `make bench`: message.sent ingestion written the plain, naive way.

What a first version without a framework would do: a nats-py pull consumer fetching 100 at a
time, `json.loads` per message, and one SQLite transaction per fetch (WAL, synchronous=FULL, so
an ack means the write is on disk, as the project promises). Per event it reads the dedupe mark,
then writes the same keys the project writes (the mark, the message and its conversation index,
an audit record and its three indexes, each key packed whole with `fdb.tuple.pack`) and bumps
two counters by read-modify-write; then it acks each message. `bench/bench_e2e.py` runs it on
the same N in the same run and reports the project's figure as a ratio to this one.

Usage: python bench/naive_baseline.py NATS_SERVER_BINARY N
Prints one JSON line: {"events_per_s": ..., "events": N, "seconds": ..., "keys": ...}.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import fdb.tuple
import nats
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

SUBJECT = "message.sent"
FETCH = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message_sent(tenant: str, conversation: str, user: str) -> bytes:
    """The event `bench_e2e.py` publishes to the project, byte for byte in shape."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": tenant,
            "user_id": user,
            "occurred_at": "2026-11-26T05:00:00.000Z",
            "workspace_session_id": None,
            "source": "ide",
            "conversation_id": conversation,
            "message_id": str(uuid.uuid4()),
            "role": "user",
            "content": "How should I refactor the auth module? " * 8,
            "model": "qwen/qwq-32b",
            "token_count": 150,
        }
    ).encode()


def key(*parts: Any) -> bytes:
    return fdb.tuple.pack(parts)


def read_int(db: sqlite3.Connection, k: bytes) -> int:
    row = db.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()
    return int.from_bytes(row[0], "little", signed=True) if row else 0


def apply(db: sqlite3.Connection, events: list[dict[str, Any]]) -> None:
    """One transaction for the fetched events, written one event at a time."""
    db.execute("BEGIN IMMEDIATE")
    for e in events:
        tenant, event_id = uuid.UUID(e["tenant_id"]), uuid.UUID(e["event_id"])
        mark = key(tenant, "applied", event_id)
        if db.execute("SELECT 1 FROM kv WHERE k = ?", (mark,)).fetchone():
            continue  # applied before: a redelivery
        message_id = uuid.UUID(e["message_id"])
        conversation = uuid.UUID(e["conversation_id"])
        user = uuid.UUID(e["user_id"])
        audit_id = uuid.uuid4()
        ms = int(time.time() * 1000)
        audit = {"event_type": "MessageSent", "user_id": e["user_id"]}
        rows = [
            (mark, b""),
            (key(tenant, "messages", message_id, 0), json.dumps(e).encode()),
            (key(tenant, "messages_by_conversation", conversation, ms, message_id), b""),
            (key(tenant, "audit", audit_id), json.dumps(audit).encode()),
            (key(tenant, "audit_by_user", user, ms, audit_id), b""),
            (key(tenant, "audit_by_event", "MessageSent", ms, audit_id), b""),
            (key(tenant, "audit_by_date", "2026-11-26", ms, audit_id), b""),
        ]
        db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
        for name, delta in (("message_count", 1), ("token_count", e.get("token_count") or 0)):
            counter = key(tenant, "counters", conversation, name)
            total = read_int(db, counter) + delta
            db.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?)",
                (counter, total.to_bytes(8, "little", signed=True)),
            )
    db.execute("COMMIT")


async def wait_for_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on port {port}")


async def run(nats_server: str, n: int, work: Path) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [nats_server, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(work / "js")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port)
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream(publish_async_max_pending=4000)
        await js.add_stream(StreamConfig(name="EVENTS", subjects=[SUBJECT]))
        tenant, conversation, user = (str(uuid.uuid4()) for _ in range(3))
        for _ in range(n):
            await js.publish_async(SUBJECT, message_sent(tenant, conversation, user))
        await js.publish_async_completed()

        db = sqlite3.connect(work / "kv.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000)
        sub = await js.pull_subscribe(SUBJECT, durable="naive", config=config)

        done, started = 0, time.perf_counter()
        while done < n:
            msgs = await sub.fetch(FETCH, timeout=5)
            apply(db, [json.loads(m.data) for m in msgs])
            for m in msgs:
                await m.ack()
            done += len(msgs)
        seconds = time.perf_counter() - started
        keys = db.execute("SELECT count(*) FROM kv").fetchone()[0]
        db.close()
        await nc.drain()
        return {"events_per_s": round(n / seconds), "events": n, "seconds": seconds, "keys": keys}
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/naive_baseline.py NATS_SERVER_BINARY N")
    work = Path(tempfile.mkdtemp(prefix="naive-baseline-"))
    try:
        result = asyncio.run(run(sys.argv[1], int(sys.argv[2]), work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({**result, "seconds": round(result["seconds"], 3)}))


if __name__ == "__main__":
    main()
