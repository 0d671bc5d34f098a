"""Retention overrides: set per tenant and rule, read back, cleared; a damaged one is named."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from workers.repositories import CorruptValue, Repositories
from workers.repositories.retention import InvalidRetention, Retention
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore


async def test_an_override_set_is_read_back_and_a_cleared_one_is_the_default_again(
    store: SqliteStore, repos: Repositories, tenant: UUID, other_tenant: UUID
) -> None:
    def put(tr: Transaction) -> None:
        repos.retention.set(tr, tenant, "files", 7)
        repos.retention.set(tr, tenant, "audit", 365.5)

    await store.transact(put)
    assert await store.read(lambda tr: repos.retention.get(tr, tenant)) == Retention(7, 365.5)
    assert await store.read(lambda tr: repos.retention.get(tr, other_tenant)) == Retention()

    await store.transact(lambda tr: repos.retention.clear(tr, tenant, "files"))

    got = await store.read(lambda tr: repos.retention.get(tr, tenant))
    assert got == Retention(None, 365.5)
    assert (got.days("files"), got.days("audit"), got.days("dedupe")) == (None, 365.5, None)


async def test_a_negative_override_is_refused_and_nothing_is_stored(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    with pytest.raises(InvalidRetention, match="'audit' must be >= 0 days, got -1"):
        await store.transact(lambda tr: repos.retention.set(tr, tenant, "audit", -1))
    assert await store.read(lambda tr: repos.retention.get(tr, tenant)) == Retention()


async def test_an_override_stored_by_the_previous_code_still_reads(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    key = repos.keys.tenant(tenant).retention.key("audit")
    await store.transact(lambda tr: tr.set(key, json.dumps({"days": 30}).encode()))

    assert await store.read(lambda tr: repos.retention.get(tr, tenant)) == Retention(None, 30)


@pytest.mark.parametrize("garbage", [b"thirty", b'{"days": "a month"}', b'{"days": -3}', b"{}"])
async def test_a_damaged_override_is_named_by_rule_and_tenant(
    store: SqliteStore, repos: Repositories, tenant: UUID, garbage: bytes
) -> None:
    key = repos.keys.tenant(tenant).retention.key("files")
    await store.transact(lambda tr: tr.set(key, garbage))

    what = f"stored retention override for 'files' in tenant {tenant} is not valid: "
    with pytest.raises(CorruptValue, match=f"^{what}"):
        await store.read(lambda tr: repos.retention.get(tr, tenant))
