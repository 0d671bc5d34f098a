"""Shared by the audit trail tests: a store file with audit records, keys, the CLI, and
tampering with the SQLite file directly (below the repositories)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from events.audit_types import AuditEventType
from workers.ids import to_ms, uuid7
from workers.records import Audit
from workers.repositories import Repositories
from workers.store.keys import Keys
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

KEYS = Keys()


def write_key(folder: Path, name: str) -> tuple[Path, Path]:
    """An Ed25519 key pair as PEM files: (private, public)."""
    key = Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def audit_records(tenant: UUID, n: int, start: datetime, step: timedelta) -> list[Audit]:
    user = uuid4()
    return [
        Audit(
            id=uuid7(to_ms(start + i * step)),
            tenant_id=tenant,
            event_type=AuditEventType.MESSAGE_SENT if i % 2 else AuditEventType.USER_LOGIN,
            user_id=user,
            event_data={"n": i, "note": f"record {i}", "ratio": i / 7},
            ip_address="10.0.0.1",
            occurred_at=start + i * step,
        )
        for i in range(n)
    ]


def write_records(db: Path, records: list[Audit]) -> None:
    async def go() -> None:
        store = SqliteStore(db)
        repos = Repositories(KEYS)

        def write(tr: Transaction) -> None:
            for a in records:
                repos.audit.add(tr, a)
                repos.tenants.mark_seen(tr, a.tenant_id)

        try:
            await store.transact(write)
        finally:
            await store.close()

    asyncio.run(go())


def run(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m workers ARGS` on the store file, with extra environment."""
    full = {**os.environ, "STORE_URL": f"sqlite:///{db}", "LOG_LEVEL": "WARNING", **env}
    full.pop("TEST_STORE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "workers", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Raw:
    """The store file through sqlite3, as an attacker with write access sees it."""

    db: Path

    def __enter__(self) -> Raw:
        self.conn = sqlite3.connect(self.db)
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.commit()
        self.conn.close()

    def get(self, key: bytes) -> bytes | None:
        row = self.conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: bytes, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def delete(self, key: bytes) -> int:
        return self.conn.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount

    def delete_range(self, begin: bytes, end: bytes) -> int:
        return self.conn.execute("DELETE FROM kv WHERE k >= ? AND k < ?", (begin, end)).rowcount

    def checkpoints(self, tenant: UUID) -> list[dict[str, object]]:
        begin, end = KEYS.tenant(tenant).audit_checkpoints.range()
        rows = self.conn.execute(
            "SELECT v FROM kv WHERE k >= ? AND k < ? ORDER BY k", (begin, end)
        ).fetchall()
        return [json.loads(r[0])["checkpoint"] for r in rows]


def shape(checkpoints: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """What must not depend on how a seal ran: windows, their ranges and roots."""
    return [(c["window"], c["first"], c["size"], c["root"]) for c in checkpoints]
