"""The tenants a job visits: the registry, read in pages of short transactions."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from workers.repositories import Repositories
from workers.store.port import Store, Transaction

PAGE = 1000


def _page(repos: Repositories, after: UUID | None, tr: Transaction) -> list[UUID]:
    return repos.tenants.list(tr, PAGE, after)


async def all_tenants(store: Store, repos: Repositories) -> list[UUID]:
    out: list[UUID] = []
    while True:
        page = await store.read(partial(_page, repos, out[-1] if out else None))
        out.extend(page)
        if len(page) < PAGE:
            return out
