"""Legal holds: placed, listed, replaced and lifted per tenant; a damaged one is named."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from repo_helpers import T0

from workers.repositories import CorruptValue, Repositories
from workers.repositories.holds import Hold, InvalidHold
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore


def hold(tenant: UUID, kind: str, subject: UUID | None, reason: str = "case 1") -> Hold:
    return Hold.model_validate(
        {
            "tenant_id": tenant,
            "kind": kind,
            "subject_id": subject,
            "reason": reason,
            "created_at": T0,
        }
    )


async def test_a_hold_added_is_listed_in_its_tenant_only(
    store: SqliteStore, repos: Repositories, tenant: UUID, other_tenant: UUID
) -> None:
    user, session = uuid4(), uuid4()
    placed = [
        hold(tenant, "user", user),
        hold(tenant, "session", session),
        hold(tenant, "tenant", None),
    ]

    def put(tr: Transaction) -> None:
        for h in placed:
            repos.holds.put(tr, h)

    await store.transact(put)

    listed = await store.read(lambda tr: repos.holds.list(tr, tenant))
    assert sorted(listed, key=lambda h: h.kind) == sorted(placed, key=lambda h: h.kind)
    assert await store.read(lambda tr: repos.holds.list(tr, other_tenant)) == []


async def test_a_hold_put_twice_is_one_hold_with_the_new_reason(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    user = uuid4()
    await store.transact(lambda tr: repos.holds.put(tr, hold(tenant, "user", user, "first")))
    await store.transact(lambda tr: repos.holds.put(tr, hold(tenant, "user", user, "second")))

    listed = await store.read(lambda tr: repos.holds.list(tr, tenant))
    assert [h.reason for h in listed] == ["second"]


async def test_a_lifted_hold_is_gone_and_lifting_it_again_says_so(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    user = uuid4()
    await store.transact(lambda tr: repos.holds.put(tr, hold(tenant, "user", user)))

    assert await store.transact(lambda tr: repos.holds.delete(tr, tenant, "user", user)) is True
    assert await store.transact(lambda tr: repos.holds.delete(tr, tenant, "user", user)) is False
    assert await store.read(lambda tr: repos.holds.list(tr, tenant)) == []


@pytest.mark.parametrize(("kind", "subject"), [("tenant", uuid4()), ("user", None)])
async def test_a_hold_without_the_subject_its_kind_needs_is_not_stored(
    store: SqliteStore, repos: Repositories, tenant: UUID, kind: str, subject: UUID | None
) -> None:
    with pytest.raises(InvalidHold):
        await store.transact(lambda tr: repos.holds.put(tr, hold(tenant, kind, subject)))
    assert await store.read(lambda tr: repos.holds.list(tr, tenant)) == []


async def test_a_damaged_hold_is_named_by_subject_and_tenant(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    user = uuid4()
    key = repos.keys.tenant(tenant).holds.key("user", user)
    await store.transact(lambda tr: tr.set(key, b"\x00not json"))

    with pytest.raises(
        CorruptValue,
        match=f"^stored hold on user {user} in tenant {tenant} is not valid: Invalid JSON",
    ):
        await store.read(lambda tr: repos.holds.list(tr, tenant))
