"""The tenant registry: every tenant seen, so jobs and the check can visit them all.

One empty key per tenant under `_sys/tenants`, written blind (it never conflicts) by every
batch that touches a tenant, and by the operator commands that configure one.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from workers.ids import from_ms
from workers.repositories.base import Page, Spec, scan
from workers.store.keys import Keys
from workers.store.port import Store, Transaction

PAGE = 1000
M = TypeVar("M")


@dataclass(frozen=True)
class TenantSummary:
    """What `tenants list` and `status` show of a tenant."""

    tenant_id: UUID
    records: dict[str, int]  # model name (as the check names it) -> records
    last_event_at: datetime | None  # the newest audit record's time: every event writes one


class TenantRegistry:
    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    def mark_seen(self, tr: Transaction, tenant_id: UUID) -> None:
        tr.set(self.keys.tenants.key(tenant_id), b"")

    def list(self, tr: Transaction, limit: int = PAGE, after: UUID | None = None) -> list[UUID]:
        """One page of tenant ids in order, after `after`."""
        begin, end = self.keys.tenants.range()
        if after is not None:
            begin = self.keys.tenants.key(after) + b"\x00"
        return [self.keys.tenants.tail(k)[0] for k, _ in tr.get_range(begin, end, limit=limit)]

    async def all(self, store: Store, page: int = PAGE) -> builtins.list[UUID]:
        """Every tenant, read a page per short transaction: the registry may outgrow what one
        FoundationDB transaction can read in 5 s."""
        out: builtins.list[UUID] = []
        while True:
            found = await store.read(partial(self._page, page, out[-1] if out else None))
            out.extend(found)
            if len(found) < page:
                return out

    def _page(self, limit: int, after: UUID | None, tr: Transaction) -> builtins.list[UUID]:
        return self.list(tr, limit, after)

    def records(
        self,
        tr: Transaction,
        spec: Spec[M],
        tenant_id: UUID,
        limit: int = PAGE,
        after: str | None = None,
    ) -> Page[M]:
        """A page of one model's records of a tenant, in key order, whatever its indexes (e.g.
        every file of the tenant, when no session is given)."""
        tk = self.keys.tenant(tenant_id)
        prefix = spec.records(tk)
        rows, nxt = scan(tr, prefix.range(), limit, after)
        idents = [i for k, _ in rows if (i := spec.record_id(prefix.tail(k))) is not None]
        return Page([r for i in idents if (r := spec.load(tr, tk, i)) is not None], nxt)

    async def summary(
        self, store: Store, specs: builtins.list[Spec[Any]], tenant_id: UUID
    ) -> TenantSummary:
        """Record counts per model and the last event's time; a page of keys per short
        transaction, so it works on a tenant of any size (and takes as long as it is big)."""
        tk = self.keys.tenant(tenant_id)
        counts: dict[str, int] = {}
        for spec in specs:
            prefix = spec.records(tk)
            after: str | None = None
            counts[spec.name] = 0
            while True:
                rows, after = await store.read(partial(_keys_page, prefix.range(), after))
                counts[spec.name] += sum(
                    1 for k, _ in rows if spec.record_id(prefix.tail(k)) is not None
                )
                if after is None:
                    break
        newest = await store.read(
            lambda tr: tr.get_range(*tk.audit_by_date.range(), limit=1, reverse=True)
        )
        last = from_ms(tk.audit_by_date.tail(newest[0][0])[1]) if newest else None
        return TenantSummary(tenant_id, counts, last)


def _keys_page(
    rng: tuple[bytes, bytes], after: str | None, tr: Transaction
) -> tuple[builtins.list[tuple[bytes, bytes]], str | None]:
    return scan(tr, rng, PAGE, after)
