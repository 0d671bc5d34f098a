"""The tenant registry: every tenant seen, listed in pages and all of them across pages."""

from __future__ import annotations

from uuid import UUID

from workers.repositories import Repositories
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore


async def test_every_tenant_seen_is_listed_once_across_many_short_pages(
    store: SqliteStore, repos: Repositories
) -> None:
    tenants = [UUID(int=i) for i in range(1, 8)]

    def seen(tr: Transaction) -> None:
        for t in tenants + tenants[:3]:  # marking again is harmless
            repos.tenants.mark_seen(tr, t)

    await store.transact(seen)

    assert await repos.tenants.all(store, page=3) == tenants  # pages of 3, 3, 1
    assert await repos.tenants.all(store, page=7) == tenants  # a full last page, then an empty one
    assert await store.read(lambda tr: repos.tenants.list(tr, 2, tenants[4])) == tenants[5:7]


async def test_an_empty_registry_has_no_tenants(store: SqliteStore, repos: Repositories) -> None:
    assert await repos.tenants.all(store) == []
