"""Where an interrupted run resumes: one key per (tenant, job) under the tenant's `cursors`.

It is written in the same transaction as the batch it follows, so after a kill at any point the
stored position and the data agree; it carries the run's counts so the receipt covers all of
the run, and it is cleared by the run's last batch. A resumed run walks on with its own cutoff:
every index entry before the stored position was already removed or held back, so any cutoff is
safe to continue with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from workers.repositories import Repositories
from workers.store.keys import Keys
from workers.store.port import Store, Transaction


@dataclass(frozen=True)
class Continuation:
    run_id: UUID  # also the id of the run's DataPurged receipt
    started_at: datetime
    owner: str
    seq: int = 0  # batches committed; tells a retried transaction whether its twin landed
    after: bytes | None = None
    removed: int = 0
    held: int = 0
    elapsed_ms: int = 0

    def advanced(
        self, removed: int, held: int, after: bytes | None, elapsed_ms: int, owner: str
    ) -> Continuation:
        return replace(
            self,
            seq=self.seq + 1,
            after=after,
            removed=self.removed + removed,
            held=self.held + held,
            elapsed_ms=self.elapsed_ms + elapsed_ms,
            owner=owner,
        )

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "run_id": str(self.run_id),
                "started_at": self.started_at.isoformat(),
                "owner": self.owner,
                "seq": self.seq,
                "after": self.after.hex() if self.after is not None else None,
                "removed": self.removed,
                "held": self.held,
                "elapsed_ms": self.elapsed_ms,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Continuation:
        d = json.loads(raw)
        return cls(
            run_id=UUID(d["run_id"]),
            started_at=datetime.fromisoformat(d["started_at"]),
            owner=d["owner"],
            seq=d["seq"],
            after=bytes.fromhex(d["after"]) if d["after"] is not None else None,
            removed=d["removed"],
            held=d["held"],
            elapsed_ms=d["elapsed_ms"],
        )


def load(tr: Transaction, keys: Keys, tenant: UUID, job: str) -> Continuation | None:
    raw = tr.get(keys.tenant(tenant).cursors.key(job))
    return Continuation.from_json(raw) if raw is not None else None


def save(tr: Transaction, keys: Keys, tenant: UUID, job: str, cont: Continuation) -> None:
    tr.set(keys.tenant(tenant).cursors.key(job), cont.to_json())


def clear(tr: Transaction, keys: Keys, tenant: UUID, job: str) -> None:
    tr.clear(keys.tenant(tenant).cursors.key(job))


async def read_continuation(
    store: Store, repos: Repositories, tenant: UUID, job: str
) -> Continuation | None:
    """The stored position of an unfinished run (None: no run in progress)."""
    return await store.read(lambda tr: load(tr, repos.keys, tenant, job))
