"""`audit verify` speed: N sealed audit records recomputed, next to a plain hashlib.sha256 loop
over the same stored bytes in the same run.

    .venv/bin/python bench/bench_audit_verify.py [--n 1000000] [--window 5000]

1. writes N audit records straight through the repository (10,000 per transaction);
2. seals them (`run_seal`, one window per transaction) and times it;
3. times `audit verify`'s walk (`Verifier`) and a `hashlib.sha256` loop over every record's
   stored bytes read from the store.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from events.audit_types import AuditEventType
from workers.config import Config
from workers.ids import to_ms, uuid7
from workers.jobs.sealing import run_seal
from workers.records import Audit
from workers.repositories import Repositories
from workers.repositories.audit_signing import Signer, TrustedKeys
from workers.repositories.audit_verify import Verifier
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

TYPES = list(AuditEventType)
PER_TRANSACTION = 10_000


def records(tenant: uuid.UUID, start: int, n: int, t0: datetime) -> list[Audit]:
    user = uuid.uuid4()
    out = []
    for i in range(start, start + n):
        at = t0 + timedelta(milliseconds=i)
        out.append(
            Audit(
                id=uuid7(to_ms(at)),
                tenant_id=tenant,
                event_type=TYPES[i % len(TYPES)],
                user_id=user,
                workspace_session_id=user,
                event_id=uuid.uuid4(),
                event_data={"conversation_id": str(user), "token_count": i % 500, "role": "user"},
                ip_address="10.1.2.3",
                user_agent="ide/1.0",
                occurred_at=at,
            )
        )
    return out


async def main(n: int, window: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    key = folder / "audit.key"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    db = folder / "store.db"
    config = Config(  # type: ignore[call-arg]
        _env_file=None,
        store_url=f"sqlite:///{db}",
        audit_signing_key_file=key,
        audit_seal_window=window,
    )
    store, repos, tenant = SqliteStore(db), Repositories(), uuid.uuid4()
    t0 = datetime.now(UTC) - timedelta(days=1)
    began = time.perf_counter()
    for start in range(0, n, PER_TRANSACTION):
        batch = records(tenant, start, min(PER_TRANSACTION, n - start), t0)

        def write(tr: Transaction, batch: list[Audit] = batch) -> None:
            for a in batch:
                repos.audit.add(tr, a)
            repos.tenants.mark_seen(tr, tenant)

        await store.transact(write)
    written = time.perf_counter() - began

    began = time.perf_counter()
    summary = await run_seal(store, repos, config, tenant=tenant)
    sealed = time.perf_counter() - began
    assert summary.records == n, summary.lines()

    trusted = TrustedKeys.load(Signer.from_file(key), [])
    began = time.perf_counter()
    report = await Verifier(store, repos.audit.seal, tenant, trusted).run()
    verified = time.perf_counter() - began
    assert report.ok and report.records == n, report.problem

    rng = repos.keys.tenant(tenant).audit.range()
    began = time.perf_counter()
    total, begin = 0, rng[0]
    while True:
        rows = store.read_sync(lambda tr, b=begin: tr.get_range(b, rng[1], limit=10_000))
        for _, value in rows:
            hashlib.sha256(value).digest()
        total += len(rows)
        if len(rows) < 10_000:
            break
        begin = rows[-1][0] + b"\x00"
    plain = time.perf_counter() - began
    assert total == n
    await store.close()

    print(f"records                         {n:,}")
    print(f"write (10,000 a transaction)    {written:8.1f} s")
    print(f"audit seal ({len(summary.windows[tenant])} windows)     {sealed:8.1f} s")
    print(f"audit verify                    {verified:8.1f} s  ({n / verified:,.0f} records/s)")
    print(f"read + hashlib.sha256 loop      {plain:8.1f} s  ({n / plain:,.0f} records/s)")
    print(
        json.dumps(
            {
                "records": n,
                "write_s": round(written, 2),
                "seal_s": round(sealed, 2),
                "verify_s": round(verified, 2),
                "sha256_loop_s": round(plain, 2),
                "store_mb": round(db.stat().st_size / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.window))
