"""Sealing the audit trail: each tenant's new records, in windows, into signed checkpoints.

Order: a record is written with an entry in the tenant's unsealed queue (keyed by its id, so
concurrent writers never share a key: no hot key, no versionstamp, the same on both engines).
The sealer, one per job lease, takes the queue's first `limit` entries in one transaction,
gives them the next sequence numbers, writes the log (`seq -> id + leaf hash`) and a
checkpoint chained to the previous one. The order is therefore the sealing order: a record
sealed in a window was committed before that window's transaction. Each window is one
transaction, so a killed seal resumes at the next window and a retry after 1021 finds the
queue already consumed and seals the next window, never one twice.

Retention: the audit purge removes records but keeps their log entries (the leaf hashes), and
signs a purge statement per window naming the sequence numbers it removed and the digest of
their leaf hashes; `verify` accepts a missing record only under such a statement.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from workers.errors import WorkersError
from workers.repositories.audit_merkle import canonical, leaf_hash, merkle_root
from workers.repositories.audit_signing import Signer
from workers.repositories.base import Repository, decode
from workers.store.port import Transaction

NO_PREVIOUS = "0" * 64


class CorruptSeal(WorkersError):
    """A stored seal value that is not what the sealer wrote."""


class Checkpoint(BaseModel):
    """A sealed window: `first` .. `first + size - 1` of the tenant's sealed order."""

    v: int = 1
    tenant_id: UUID
    window: int
    first: int
    size: int
    root: str
    prev: str
    sealed_at: datetime
    key_id: str

    def body(self) -> bytes:
        return canonical(self.model_dump(mode="json"))

    def digest(self) -> str:
        """What the next checkpoint's `prev` holds."""
        return hashlib.sha256(self.body()).hexdigest()

    @property
    def end(self) -> int:
        return self.first + self.size


class Signed(BaseModel):
    """A stored checkpoint or purge statement: the document and its Ed25519 signature."""

    signature: str
    checkpoint: Checkpoint | None = None
    purge: PurgeStatement | None = None


class PurgeStatement(BaseModel):
    """The retention purge's word that it removed these records of a window."""

    v: int = 1
    tenant_id: UUID
    window: int
    seqs: list[int]
    leaves: str  # SHA-256 (hex) of the removed records' leaf hashes, in seq order
    run_id: UUID | None  # the purge run: its DataPurged receipt has this id
    cutoff: datetime
    purged_at: datetime
    key_id: str

    def body(self) -> bytes:
        return canonical(self.model_dump(mode="json"))


Signed.model_rebuild()


@dataclass(frozen=True)
class PurgeSigning:
    """What the purge needs to sign its statements."""

    signer: Signer
    run_id: UUID | None
    now: datetime


@dataclass(frozen=True)
class LogEntry:
    seq: int
    record_id: UUID
    leaf: bytes


def leaves_digest(leaves: list[bytes]) -> str:
    return hashlib.sha256(b"".join(leaves)).hexdigest()


class AuditSealRepository(Repository):
    def enqueue(self, tr: Transaction, tenant_id: UUID, record_id: UUID) -> None:
        tr.set(self.keys.tenant(tenant_id).audit_unsealed.key(record_id), b"")

    def unsealed(self, tr: Transaction, tenant_id: UUID, limit: int) -> list[UUID]:
        q = self.keys.tenant(tenant_id).audit_unsealed
        return [q.tail(k)[0] for k, _ in tr.get_range(*q.range(), limit=limit)]

    def last_checkpoint(self, tr: Transaction, tenant_id: UUID) -> Checkpoint | None:
        cps = self.keys.tenant(tenant_id).audit_checkpoints
        rows = tr.get_range(*cps.range(), limit=1, reverse=True)
        return self._checkpoint(tenant_id, rows[0][1]) if rows else None

    def newest_signed(self, tr: Transaction, tenant_id: UUID) -> Signed | None:
        """The newest checkpoint as stored, signature included (what an anchor keeps)."""
        cps = self.keys.tenant(tenant_id).audit_checkpoints
        rows = tr.get_range(*cps.range(), limit=1, reverse=True)
        return (
            decode(Signed, rows[0][1], f"audit checkpoint of tenant {tenant_id}") if rows else None
        )

    def seal_window(
        self, tr: Transaction, tenant_id: UUID, signer: Signer, limit: int, now: datetime
    ) -> Checkpoint | None:
        """Seal up to `limit` queued records as the next window; None if none is queued."""
        tk = self.keys.tenant(tenant_id)
        ids = self.unsealed(tr, tenant_id, limit)
        if not ids:
            return None
        last = self.last_checkpoint(tr, tenant_id)
        first = last.end if last is not None else 0
        window = last.window + 1 if last is not None else 0
        leaves: list[bytes] = []
        for record_id, raw in zip(ids, tr.get_many([tk.audit.key(i) for i in ids]), strict=True):
            tr.clear(tk.audit_unsealed.key(record_id))
            if raw is None:  # removed before it was sealed: nothing to prove
                continue
            leaf = leaf_hash(raw)
            seq = first + len(leaves)
            tr.set(tk.audit_log.key(seq), record_id.bytes + leaf)
            tr.set(tk.audit_log_by_id.key(record_id), f"{seq} {window}".encode())
            leaves.append(leaf)
        if not leaves:
            return None
        cp = Checkpoint(
            tenant_id=tenant_id,
            window=window,
            first=first,
            size=len(leaves),
            root=merkle_root(leaves).hex(),
            prev=last.digest() if last is not None else NO_PREVIOUS,
            sealed_at=now,
            key_id=signer.key_id,
        )
        signed = Signed(signature=signer.sign(cp.body()).hex(), checkpoint=cp)
        tr.set(tk.audit_checkpoints.key(window), signed.model_dump_json().encode())
        return cp

    def checkpoints(
        self, tr: Transaction, tenant_id: UUID, from_window: int, limit: int
    ) -> list[tuple[int, Signed | None]]:
        """Stored checkpoints from `from_window` on, with the window number their key names
        (a damaged value is None)."""
        cps = self.keys.tenant(tenant_id).audit_checkpoints
        rows = tr.get_range(cps.key(from_window), cps.range()[1], limit=limit)
        out: list[tuple[int, Signed | None]] = []
        for key, raw in rows:
            try:
                out.append((cps.tail(key)[0], Signed.model_validate_json(raw)))
            except ValueError:
                out.append((cps.tail(key)[0], None))
        return out

    def log(self, tr: Transaction, tenant_id: UUID, first: int, end: int) -> list[LogEntry]:
        lg = self.keys.tenant(tenant_id).audit_log
        out = []
        for key, value in tr.get_range(lg.key(first), lg.key(end), limit=max(end - first, 1)):
            out.append(LogEntry(lg.tail(key)[0], UUID(bytes=value[:16]), value[16:]))
        return out

    def purges(self, tr: Transaction, tenant_id: UUID, window: int) -> list[Signed]:
        rng = self.keys.tenant(tenant_id).audit_purges.range(window)
        return [
            decode(Signed, raw, f"purge statement of window {window}")
            for _, raw in tr.get_range(*rng)
        ]

    def sealed_at(
        self, tr: Transaction, tenant_id: UUID, record_ids: list[UUID]
    ) -> list[tuple[int, int] | None]:
        """Each record's (seq, window), or None if it is not sealed."""
        lbi = self.keys.tenant(tenant_id).audit_log_by_id
        out: list[tuple[int, int] | None] = []
        for raw in tr.get_many([lbi.key(i) for i in record_ids]):
            seq, window = raw.split() if raw is not None else (None, None)
            out.append(None if seq is None or window is None else (int(seq), int(window)))
        return out

    def forget_removed(
        self,
        tr: Transaction,
        tenant_id: UUID,
        record_ids: list[UUID],
        cutoff: datetime,
        signing: PurgeSigning | None,
    ) -> None:
        """The purge removed these records: drop their queue and by-id entries and, for the
        sealed ones, sign a statement per window (their log entries stay)."""
        tk = self.keys.tenant(tenant_id)
        if signing is None:  # no key: nothing to sign, so no read either (blind clears)
            for record_id in record_ids:
                tr.clear(tk.audit_unsealed.key(record_id))
                tr.clear(tk.audit_log_by_id.key(record_id))
            return
        by_window: dict[int, list[int]] = {}
        places = self.sealed_at(tr, tenant_id, record_ids)
        for record_id, place in zip(record_ids, places, strict=True):
            tr.clear(tk.audit_unsealed.key(record_id))
            if place is None:
                continue
            tr.clear(tk.audit_log_by_id.key(record_id))
            by_window.setdefault(place[1], []).append(place[0])
        for window, seqs in by_window.items():
            seqs.sort()
            entries = self.log(tr, tenant_id, seqs[0], seqs[-1] + 1)
            wanted = set(seqs)
            st = PurgeStatement(
                tenant_id=tenant_id,
                window=window,
                seqs=seqs,
                leaves=leaves_digest([e.leaf for e in entries if e.seq in wanted]),
                run_id=signing.run_id,
                cutoff=cutoff,
                purged_at=signing.now,
                key_id=signing.signer.key_id,
            )
            signed = Signed(signature=signing.signer.sign(st.body()).hex(), purge=st)
            tr.set(tk.audit_purges.key(window, seqs[0]), signed.model_dump_json().encode())

    def _checkpoint(self, tenant_id: UUID, raw: bytes) -> Checkpoint:
        signed = decode(Signed, raw, f"audit checkpoint of tenant {tenant_id}")
        if signed.checkpoint is None:
            raise CorruptSeal(f"stored audit checkpoint of tenant {tenant_id} has no checkpoint")
        return signed.checkpoint


def as_json(signed: Signed) -> dict[str, Any]:
    """The exported form of a signed checkpoint (`audit checkpoint export`)."""
    return json.loads(signed.model_dump_json(exclude_none=True))  # type: ignore[no-any-return]
