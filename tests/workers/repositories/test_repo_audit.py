"""AuditRepository: records indexed by user, event type and day; windows; retention cleanup."""

from __future__ import annotations

from uuid import UUID, uuid4

from repo_helpers import Make, at, walk

from events.audit_types import AuditEventType
from workers.records import Audit
from workers.repositories import Repositories
from workers.store.sqlite import SqliteStore

LOGIN, LOGOUT = AuditEventType.USER_LOGIN, AuditEventType.USER_LOGOUT


async def create_all(store: SqliteStore, repos: Repositories, audits: list[Audit]) -> None:
    await store.transact(lambda tr: repos.audit.create_many(tr, audits))


async def test_created_audit_reads_back_by_id_and_a_second_create_is_refused(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    audit = make.audit(event_data={"ip": "10.0.0.1", "attempt": 2}, ip_address="10.0.0.1")
    assert await store.transact(lambda tr: repos.audit.create(tr, audit))
    changed = audit.model_copy(update={"event_type": LOGOUT})
    assert not await store.transact(lambda tr: repos.audit.create(tr, changed))
    got = await store.transact(lambda tr: repos.audit.get_by_id(tr, make.tenant_id, audit.id))
    assert got == audit
    logouts = await store.transact(lambda tr: repos.audit.list_by_event(tr, make.tenant_id, LOGOUT))
    assert logouts.items == []


async def test_missing_audit_reads_as_none(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    assert await store.transact(lambda tr: repos.audit.get_by_id(tr, tenant, uuid4())) is None


async def test_list_by_user_is_in_time_order_within_a_half_open_window(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    audits = [make.audit(occurred_at=at(minutes=m)) for m in (30, 0, 10, 20, 40)]
    await create_all(store, repos, [*audits, make.audit(user_id=uuid4(), occurred_at=at(10))])
    t, u = make.tenant_id, make.user_id
    in_order = sorted(audits, key=lambda a: a.occurred_at)
    window = await store.transact(lambda tr: repos.audit.list_by_user(tr, t, u, at(10), at(40)))
    assert window.items == in_order[1:4]  # 10, 20, 30: start included, end excluded
    everything = await walk(
        store, lambda tr, after: repos.audit.list_by_user(tr, t, u, limit=2, after=after)
    )
    assert everything == in_order
    assert (await store.transact(lambda tr: repos.audit.list_by_user(tr, t, u, at(35)))).items == [
        in_order[4]
    ]


async def test_list_by_event_keeps_to_its_type_and_window(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    logins = [make.audit(occurred_at=at(days=d)) for d in range(5)]
    logouts = [make.audit(event_type=LOGOUT, occurred_at=at(days=d)) for d in range(5)]
    await create_all(store, repos, logins + logouts)
    t = make.tenant_id
    page = await store.transact(
        lambda tr: repos.audit.list_by_event(tr, t, LOGIN, at(days=1), at(days=3))
    )
    assert page.items == logins[1:3]
    walked = await walk(
        store, lambda tr, after: repos.audit.list_by_event(tr, t, LOGOUT, limit=3, after=after)
    )
    assert walked == logouts


async def test_list_by_date_spans_days_in_time_order(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    audits = [make.audit(user_id=None, occurred_at=at(minutes=m * 700)) for m in range(8)]
    await create_all(store, repos, audits[::-1])
    t = make.tenant_id
    walked = await walk(
        store, lambda tr, after: repos.audit.list_by_date(tr, t, limit=3, after=after)
    )
    assert walked == audits
    window = await store.transact(
        lambda tr: repos.audit.list_by_date(tr, t, at(minutes=1400), at(minutes=3500))
    )
    assert window.items == audits[2:5]


async def test_delete_removes_the_record_and_all_three_index_entries(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    audit = make.audit()
    await create_all(store, repos, [audit])
    t = make.tenant_id
    assert await store.transact(lambda tr: repos.audit.delete(tr, t, audit.id)) == audit
    assert await store.transact(lambda tr: repos.audit.get_by_id(tr, t, audit.id)) is None
    for listing in (
        lambda tr: repos.audit.list_by_user(tr, t, make.user_id),
        lambda tr: repos.audit.list_by_event(tr, t, LOGIN),
        lambda tr: repos.audit.list_by_date(tr, t),
    ):
        assert (await store.transact(listing)).items == []


async def test_cleanup_removes_only_events_older_than_the_retention_at_the_injected_now(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    old = [make.audit(occurred_at=at(days=d)) for d in range(0, 10)]
    recent = [make.audit(occurred_at=at(days=d)) for d in range(10, 15)]
    await create_all(store, repos, old + recent)
    t = make.tenant_id
    result = await repos.audit.cleanup_old_events(store, t, 30, now=at(days=40), batch=3)
    assert (result.removed, result.kept) == (10, 0)
    assert result.batches >= 4
    left = await walk(store, lambda tr, after: repos.audit.list_by_date(tr, t, after=after))
    assert left == recent
    for a in old:
        assert await store.transact(lambda tr, a=a: repos.audit.get_by_id(tr, t, a.id)) is None
    by_user = await walk(
        store, lambda tr, after: repos.audit.list_by_user(tr, t, make.user_id, after=after)
    )
    assert by_user == recent


async def test_cleanup_spares_what_keep_holds_and_reports_it(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    held_user = uuid4()
    audits = [make.audit(occurred_at=at(days=d)) for d in range(6)]
    held = [make.audit(user_id=held_user, occurred_at=at(days=d)) for d in range(3)]
    await create_all(store, repos, audits + held)
    result = await repos.audit.cleanup_old_events(
        store, make.tenant_id, 1, now=at(days=30), keep=lambda a: a.user_id == held_user
    )
    assert (result.removed, result.kept) == (6, 3)
    left = await store.transact(lambda tr: repos.audit.list_by_date(tr, make.tenant_id))
    assert sorted(a.id for a in left.items) == sorted(a.id for a in held)
