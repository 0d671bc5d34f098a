"""The tenant registry: every tenant seen, so jobs and the check can visit them all.

One empty key per tenant under `_sys/tenants`, written blind (it never conflicts) by every
batch that touches a tenant, and by the operator commands that configure one.
"""

from __future__ import annotations

import builtins
from functools import partial
from uuid import UUID

from workers.store.keys import Keys
from workers.store.port import Store, Transaction

PAGE = 1000


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
