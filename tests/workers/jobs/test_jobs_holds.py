"""Legal holds: placed, listed per tenant or across tenants, lifted."""

from __future__ import annotations

from uuid import uuid4

import pytest
from jobs_support import FakeClock

from workers.jobs.controls import add_hold, list_holds, remove_hold
from workers.repositories import Repositories
from workers.repositories.holds import InvalidHold
from workers.store import Store


async def test_holds_are_added_listed_and_removed(
    store: Store, repos: Repositories, clock: FakeClock
) -> None:
    a, b, user, session = uuid4(), uuid4(), uuid4(), uuid4()
    await add_hold(store, repos, a, "user", user, "case 1", clock=clock)
    await add_hold(store, repos, a, "session", session, "case 2", clock=clock)
    await add_hold(store, repos, b, "tenant", None, "regulator", clock=clock)

    mine = await list_holds(store, repos, a)
    assert {(h.kind, h.subject_id, h.reason) for h in mine} == {
        ("user", user, "case 1"),
        ("session", session, "case 2"),
    }
    assert all(h.created_at == clock() for h in mine)
    assert len(await list_holds(store, repos)) == 3

    assert await remove_hold(store, repos, a, "user", user) is True
    assert await remove_hold(store, repos, a, "user", user) is False
    assert [h.kind for h in await list_holds(store, repos, a)] == ["session"]


async def test_adding_a_hold_twice_keeps_one_with_the_new_reason(
    store: Store, repos: Repositories
) -> None:
    tenant, user = uuid4(), uuid4()
    await add_hold(store, repos, tenant, "user", user, "first")
    await add_hold(store, repos, tenant, "user", user, "second")

    assert [h.reason for h in await list_holds(store, repos, tenant)] == ["second"]


@pytest.mark.parametrize(
    ("kind", "subject"),
    [("tenant", uuid4()), ("user", None), ("session", None), ("workspace", uuid4())],
)
async def test_a_hold_without_the_subject_its_kind_needs_is_refused(
    store: Store, repos: Repositories, kind: str, subject: object
) -> None:
    with pytest.raises(InvalidHold):
        await add_hold(store, repos, uuid4(), kind, subject, "x")  # type: ignore[arg-type]
