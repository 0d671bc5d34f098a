"""The audit trail: records indexed by user, by event type and by UTC day, all in time order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from events.audit_types import AuditEventType
from workers.ids import day_of, to_ms, utcnow
from workers.records import Audit
from workers.repositories.audit_merkle import erase_personal
from workers.repositories.audit_seal import AuditSealRepository, PurgeSigning
from workers.repositories.base import (
    DEFAULT_PAGE,
    Checkpoint,
    CleanupResult,
    Index,
    OnBatch,
    Page,
    Repository,
    Spec,
    cleanup_in_batches,
    cutoff_of,
    diff_indexes,
    last_element,
    scan,
)
from workers.store.keys import KeyRange, Keys, Prefix, TenantKeys
from workers.store.port import Store, Transaction

FAR_FUTURE_MS = 2**53


class AuditRepository(Repository):
    def __init__(self, keys: Keys) -> None:
        super().__init__(keys)
        self.seal = AuditSealRepository(keys)

    def create(self, tr: Transaction, audit: Audit) -> bool:
        """Store an audit record; False if its id exists (a retried transaction)."""
        return self.create_many(tr, [audit])[0]

    def create_many(self, tr: Transaction, audits: list[Audit]) -> list[bool]:
        keys = [self.keys.tenant(a.tenant_id).audit.key(a.id) for a in audits]
        created = []
        for audit, key, existing in zip(audits, keys, tr.get_many(keys), strict=True):
            created.append(existing is None)
            if existing is None:
                tr.set(key, audit.to_json())
                diff_indexes(tr, {}, _entries(self.keys.tenant(audit.tenant_id), audit))
                self.seal.enqueue(tr, audit.tenant_id, audit.id)
        return created

    def add(self, tr: Transaction, audit: Audit) -> None:
        """Write without the existence read: for callers whose event dedupe mark guards it."""
        tk = self.keys.tenant(audit.tenant_id)
        tr.set(tk.audit.key(audit.id), audit.to_json())
        diff_indexes(tr, {}, _entries(tk, audit))
        tr.set(tk.audit_unsealed.key(audit.id), b"")  # what `seal.enqueue` writes, inlined

    def get_by_id(self, tr: Transaction, tenant_id: UUID, audit_id: UUID) -> Audit | None:
        raw = tr.get(self.keys.tenant(tenant_id).audit.key(audit_id))
        return Audit.model_validate_json(raw) if raw is not None else None

    def list_by_user(
        self,
        tr: Transaction,
        tenant_id: UUID,
        user_id: UUID,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Audit]:
        tk = self.keys.tenant(tenant_id)
        return self._page(tr, tk, tk.audit_by_user, (user_id,), start, end, limit, after)

    def list_by_event(
        self,
        tr: Transaction,
        tenant_id: UUID,
        event_type: AuditEventType,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Audit]:
        tk = self.keys.tenant(tenant_id)
        return self._page(tr, tk, tk.audit_by_event, (event_type.value,), start, end, limit, after)

    def list_by_date(
        self,
        tr: Transaction,
        tenant_id: UUID,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Audit]:
        """The whole tenant's trail in time order, through the by-day index."""
        tk = self.keys.tenant(tenant_id)
        rows, nxt = scan(tr, self._date_range(tk, start, end), limit, after)
        return Page(self._load_many(tr, tk, [tk.audit_by_date.tail(k)[-1] for k, _ in rows]), nxt)

    def delete(self, tr: Transaction, tenant_id: UUID, audit_id: UUID) -> Audit | None:
        tk = self.keys.tenant(tenant_id)
        old = self.get_by_id(tr, tenant_id, audit_id)
        if old is not None:
            tr.clear(tk.audit.key(audit_id))
            tr.clear(tk.audit_unsealed.key(audit_id))
            diff_indexes(tr, _entries(tk, old), {})
        return old

    def pseudonymise_batch(
        self, tr: Transaction, tenant_id: UUID, user_id: UUID, limit: int
    ) -> int:
        """Empty the personal fields of up to `limit` of the user's records, keeping their
        digest (`erase_personal`: leaves, roots and signatures stay valid), and drop their
        by-user index entries; 0 when none is left."""
        tk = self.keys.tenant(tenant_id)
        rows = tr.get_range(*tk.audit_by_user.range(user_id), limit=limit)
        ids = [tk.audit_by_user.tail(key)[-1] for key, _ in rows]
        for (index_key, _), raw in zip(
            rows, tr.get_many([tk.audit.key(i) for i in ids]), strict=True
        ):
            tr.clear(index_key)
            if raw is not None:
                tr.set(tk.audit.key(tk.audit_by_user.tail(index_key)[-1]), erase_personal(raw))
        return len(rows)

    def cleanup_batch(
        self,
        tr: Transaction,
        tenant_id: UUID,
        cutoff: datetime,
        limit: int,
        after: bytes | None = None,
        keep: Callable[[Audit], bool] | None = None,
        dry_run: bool = False,
        signing: PurgeSigning | None = None,
    ) -> tuple[int, int, bytes | None]:
        """Delete up to `limit` events older than `cutoff`, walking the by-day index.

        Cost follows what expired: the scan stops at the cutoff key. `keep` (e.g. a legal hold)
        spares a record. A `dry_run` counts what would go and writes nothing. Sealed records
        keep their log entries, and `signing` signs a purge statement for them (audit_seal.py).
        Returns (removed, kept, cursor to resume from or None when done).
        """
        tk = self.keys.tenant(tenant_id)
        begin, end = self._date_range(tk, None, cutoff)
        if after is not None:
            begin = after + b"\x00"
        rows = tr.get_range(begin, end, limit=limit)
        ids = [tk.audit_by_date.tail(k)[-1] for k, _ in rows]
        raws = tr.get_many([tk.audit.key(i) for i in ids])
        removed = kept = 0
        gone: list[UUID] = []
        for (date_key, _), raw in zip(rows, raws, strict=True):
            if raw is None:  # an entry without its record: drop it, never re-read it forever
                if not dry_run:
                    tr.clear(date_key)
                continue
            audit = Audit.model_validate_json(raw)
            if keep is not None and keep(audit):
                kept += 1
                continue
            if not dry_run:
                tr.clear(tk.audit.key(audit.id))
                diff_indexes(tr, _entries(tk, audit), {})
                gone.append(audit.id)
            removed += 1
        if gone:
            self.seal.forget_removed(tr, tenant_id, gone, cutoff, signing)
        done = len(rows) < limit
        return removed, kept, None if done else rows[-1][0]

    async def cleanup_old_events(
        self,
        store: Store,
        tenant_id: UUID,
        retention_days: float,
        now: datetime | None = None,
        batch: int = 500,
        keep: Callable[[Audit], bool] | None = None,
        *,
        dry_run: bool = False,
        resume: CleanupResult | None = None,
        checkpoint: Checkpoint | None = None,
        on_batch: OnBatch | None = None,
        signing: PurgeSigning | None = None,
    ) -> CleanupResult:
        """Delete every event that occurred more than `retention_days` ago, in short batches.

        The audit retention job runs this too: `resume`, `checkpoint` and `on_batch` are how it
        carries on an interrupted run and keeps its lease, continuation and receipt; `signing`
        how it signs what it removed of the sealed trail.
        """
        cutoff = cutoff_of(now or utcnow(), retention_days)
        return await cleanup_in_batches(
            store,
            partial(self._cleanup_step, tenant_id, cutoff, batch, keep, dry_run, signing),
            on_batch,
            resume=resume,
            checkpoint=checkpoint,
            read_only=dry_run,
        )

    def _cleanup_step(
        self,
        tenant_id: UUID,
        cutoff: datetime,
        limit: int,
        keep: Callable[[Audit], bool] | None,
        dry_run: bool,
        signing: PurgeSigning | None,
        tr: Transaction,
        after: bytes | None,
    ) -> tuple[int, int, bytes | None]:
        return self.cleanup_batch(tr, tenant_id, cutoff, limit, after, keep, dry_run, signing)

    def spec(self) -> Spec[Audit]:
        return Spec(
            name="audit",
            records=lambda tk: tk.audit,
            record_id=lambda tail: tail[:1],
            load=lambda tr, tk, ident: self.get_by_id(tr, tk.tenant_id, ident[0]),
            entries=_entries,
            indexes=[
                Index("audit_by_user", lambda tk: tk.audit_by_user, last_element),
                Index("audit_by_event", lambda tk: tk.audit_by_event, last_element),
                Index("audit_by_date", lambda tk: tk.audit_by_date, last_element),
            ],
        )

    def _page(
        self,
        tr: Transaction,
        tk: TenantKeys,
        index: Prefix,
        head: tuple[Any, ...],
        start: datetime | None,
        end: datetime | None,
        limit: int,
        after: str | None,
    ) -> Page[Audit]:
        rng = index.between(head, _ms(start, 0), _ms(end, FAR_FUTURE_MS))
        rows, nxt = scan(tr, rng, limit, after)
        return Page(self._load_many(tr, tk, [index.tail(k)[-1] for k, _ in rows]), nxt)

    def _date_range(self, tk: TenantKeys, start: datetime | None, end: datetime | None) -> KeyRange:
        by_date = tk.audit_by_date
        begin = by_date.key(day_of(to_ms(start)), to_ms(start)) if start else by_date.range()[0]
        stop = by_date.key(day_of(to_ms(end)), to_ms(end)) if end else by_date.range()[1]
        return begin, stop

    def _load_many(self, tr: Transaction, tk: TenantKeys, ids: list[UUID]) -> list[Audit]:
        raws = tr.get_many([tk.audit.key(i) for i in ids])
        return [Audit.model_validate_json(r) for r in raws if r is not None]


def _ms(moment: datetime | None, default: int) -> int:
    return to_ms(moment) if moment is not None else default


def _entries(tk: TenantKeys, a: Audit) -> dict[bytes, bytes]:
    ms = to_ms(a.occurred_at)
    out = {
        tk.audit_by_event.key(a.event_type.value, ms, a.id): b"",
        tk.audit_by_date.key(day_of(ms), ms, a.id): b"",
    }
    if a.user_id is not None:
        out[tk.audit_by_user.key(a.user_id, ms, a.id)] = b""
    return out
