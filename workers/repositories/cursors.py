"""Job continuations: where an interrupted run resumes, one key per (tenant, job) under the
tenant's `cursors`, the value a `Continuation` as JSON.

The jobs write it in the same transaction as the batch it follows, so after a kill at any point
the stored position and the data agree; it carries the run's counts so the receipt covers all
of the run, and the run's last batch clears it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator

from workers.repositories.base import CleanupResult, Repository, decode
from workers.store.port import Transaction


def _from_hex(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a hex string")
    return bytes.fromhex(value)  # a ValueError names the bad character


HexBytes = Annotated[bytes, PlainValidator(_from_hex), PlainSerializer(bytes.hex, return_type=str)]
"""Key bytes as hex in JSON (the stored layout since the first continuation)."""


class Continuation(BaseModel):
    """An unfinished run: its identity, and its totals so far (`seq` batches, `held` kept)."""

    model_config = ConfigDict(frozen=True)

    run_id: UUID  # also the id of the run's DataPurged receipt
    started_at: datetime
    owner: str
    seq: int = 0  # batches committed; tells a retried transaction whether its twin landed
    after: HexBytes | None = None
    removed: int = 0
    held: int = 0
    elapsed_ms: int = 0

    @classmethod
    def of(
        cls, run_id: UUID, started_at: datetime, owner: str, so_far: CleanupResult
    ) -> Continuation:
        return cls(
            run_id=run_id,
            started_at=started_at,
            owner=owner,
            seq=so_far.batches,
            after=so_far.after,
            removed=so_far.removed,
            held=so_far.kept,
            elapsed_ms=so_far.elapsed_ms,
        )

    def progress(self) -> CleanupResult:
        """The totals to resume the cleanup from."""
        return CleanupResult(self.removed, self.held, self.seq, self.after, self.elapsed_ms)


class CursorRepository(Repository):
    def get(self, tr: Transaction, tenant_id: UUID, job: str) -> Continuation | None:
        raw = tr.get(self.keys.tenant(tenant_id).cursors.key(job))
        if raw is None:
            return None
        return decode(Continuation, raw, f"continuation of job {job!r} in tenant {tenant_id}")

    def save(self, tr: Transaction, tenant_id: UUID, job: str, cont: Continuation) -> None:
        tr.set(self.keys.tenant(tenant_id).cursors.key(job), cont.model_dump_json().encode())

    def clear(self, tr: Transaction, tenant_id: UUID, job: str) -> None:
        tr.clear(self.keys.tenant(tenant_id).cursors.key(job))
