"""Every call is tenant-scoped, and a continuation token only continues the query it came from.

Both tenants hold records with the *same* ids, users and sessions; only a marker field differs.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations
from typing import Any
from uuid import UUID, uuid4

import pytest
from repo_helpers import Make, at

from events.audit_types import AuditEventType
from events.enums import AgentType, SettingCategory
from workers.errors import InvalidContinuation
from workers.repositories import Page, Repositories
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

Query = Callable[[Transaction, UUID, str | None], Page[Any]]


class Shared:
    """Ids both tenants use."""

    def __init__(self) -> None:
        self.user, self.session = uuid4(), uuid4()
        self.conversations = [uuid4(), uuid4()]
        self.conversation = self.conversations[0]  # the one holding the messages
        self.messages = [uuid4(), uuid4()]
        self.audits = [uuid4(), uuid4()]
        self.files = [uuid4(), uuid4()]
        self.agents = [uuid4(), uuid4()]


def queries(repos: Repositories, ids: Shared) -> dict[str, Query]:
    """Every paged query, each over a slice that holds two records in each tenant."""
    r, u = repos, ids.user
    return {
        "conversations.list_by_user": lambda tr, t, a: r.conversations.list_by_user(tr, t, u, 1, a),
        "conversations.get_by_session": lambda tr, t, a: r.conversations.get_by_session(
            tr, t, ids.session, 1, a
        ),
        "conversations.list_by_tenant": lambda tr, t, a: r.conversations.list_by_tenant(
            tr, t, 1, a
        ),
        "messages.list_by_conversation": lambda tr, t, a: r.messages.list_by_conversation(
            tr, t, ids.conversation, 0, 1, a
        ),
        "audit.list_by_user": lambda tr, t, a: r.audit.list_by_user(tr, t, u, limit=1, after=a),
        "audit.list_by_event": lambda tr, t, a: r.audit.list_by_event(
            tr, t, AuditEventType.USER_LOGIN, limit=1, after=a
        ),
        "audit.list_by_date": lambda tr, t, a: r.audit.list_by_date(tr, t, limit=1, after=a),
        "files.list_by_session": lambda tr, t, a: r.files.list_by_session(
            tr, t, ids.session, True, 1, a
        ),
        "agents.list_by_tenant": lambda tr, t, a: r.agents.list_by_tenant(tr, t, 1, a),
        "agents.list_by_type": lambda tr, t, a: r.agents.list_by_type(
            tr, t, AgentType.COORDINATOR, 1, a
        ),
        "settings.get_all": lambda tr, t, a: r.settings.get_all(tr, t, u, None, 1, a),
        "settings.get_all(editor)": lambda tr, t, a: r.settings.get_all(
            tr, t, u, SettingCategory.EDITOR, 1, a
        ),
        "settings.list_by_category": lambda tr, t, a: r.settings.list_by_category(
            tr, t, SettingCategory.EDITOR, 1, a
        ),
    }


# Queries over nested ranges of one index may share a token that lies in both: it continues
# the other query at the same place, so it is not refused.
NESTED = {
    frozenset({"agents.list_by_type", "agents.list_by_tenant"}),
    frozenset({"settings.get_all(editor)", "settings.get_all"}),
}


def fill(tr: Transaction, repos: Repositories, tenant: UUID, ids: Shared) -> None:
    make = Make(tenant)
    make.user_id, make.session_id = ids.user, ids.session
    mark = str(tenant)  # what tells the two tenants' copies apart
    for i, c in enumerate(ids.conversations):
        repos.conversations.create(tr, make.conversation(id=c, title=mark))
        repos.messages.create(
            tr, make.message(ids.conversation, id=ids.messages[i], content=mark, created_at=at(i))
        )
        repos.audit.create(tr, make.audit(id=ids.audits[i], event_data={"mark": mark}))
        repos.files.create(tr, make.file(id=ids.files[i], file_path=f"{i}.py", checksum=None))
        repos.files.update(
            tr, make.file(id=ids.files[i], file_path=f"{i}.py", mime_type=mark, checksum=None)
        )
        repos.agents.create(tr, make.agent(id=ids.agents[i], name=mark))
        repos.settings.set(tr, make.setting(key=f"k{i}", value=mark))


@pytest.fixture
async def two_tenants(
    store: SqliteStore, repos: Repositories, tenant: UUID, other_tenant: UUID
) -> Shared:
    ids = Shared()
    for t in (tenant, other_tenant):
        await store.transact(lambda tr, t=t: fill(tr, repos, t, ids))
    return ids


def tenant_of(item: Any) -> UUID:
    return UUID(str(item.tenant_id))


async def test_every_paged_query_returns_only_its_own_tenants_records(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID, other_tenant: UUID
) -> None:
    for name, query in queries(repos, two_tenants).items():
        for t in (tenant, other_tenant):
            first = await store.transact(lambda tr, q=query, t=t: q(tr, t, None))
            rest = await store.transact(lambda tr, q=query, t=t, a=first.next: q(tr, t, a))
            items = first.items + rest.items
            assert len(items) == 2, name
            assert {tenant_of(i) for i in items} == {t}, name


async def test_point_reads_see_only_their_own_tenants_copy(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID, other_tenant: UUID
) -> None:
    ids, r = two_tenants, repos
    for t in (tenant, other_tenant):
        mark = str(t)

        def reads(tr: Transaction, t: UUID = t) -> list[Any]:
            return [
                r.conversations.get_by_id(tr, t, ids.conversations[0]),
                r.messages.get_by_id(tr, t, ids.messages[0]),
                r.audit.get_by_id(tr, t, ids.audits[0]),
                r.files.get_by_id(tr, t, ids.files[0]),
                r.files.get_by_path(tr, t, ids.session, "0.py"),
                r.agents.get_by_id(tr, t, ids.agents[0]),
                r.settings.get(tr, t, ids.user, SettingCategory.EDITOR, "k0"),
            ]

        conv, msg, audit, file, by_path, agent, setting = await store.transact(reads)
        assert conv.title == mark and conv.message_count == 2
        assert msg.content == mark and audit.event_data == {"mark": mark}
        assert file.mime_type == mark and by_path == file
        assert agent.name == mark and setting.value == mark
        tokens = await store.transact(
            lambda tr, t=t: r.messages.count_tokens(tr, t, ids.conversation)
        )
        assert tokens == 20


async def test_writes_in_one_tenant_leave_the_other_untouched(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID, other_tenant: UUID
) -> None:
    ids, r = two_tenants, repos

    def wipe(tr: Transaction) -> None:
        r.conversations.delete(tr, tenant, ids.conversations[0])
        r.messages.delete(tr, tenant, ids.messages[0])
        r.audit.delete(tr, tenant, ids.audits[0])
        r.files.soft_delete(tr, tenant, ids.files[0], at(9))
        r.agents.delete(tr, tenant, ids.agents[0])
        r.settings.delete(tr, tenant, ids.user, SettingCategory.EDITOR, "k0")

    await store.transact(wipe)
    await r.files.cleanup_deleted(store, tenant, 0, now=at(days=1))
    await r.audit.cleanup_old_events(store, tenant, 0, now=at(days=1))
    for name, query in queries(r, ids).items():
        first = await store.transact(lambda tr, q=query: q(tr, other_tenant, None))
        rest = await store.transact(lambda tr, q=query, a=first.next: q(tr, other_tenant, a))
        assert len(first.items + rest.items) == 2, name
    assert (
        await store.transact(lambda tr: r.messages.count_tokens(tr, other_tenant, ids.conversation))
        == 20
    )
    assert (
        await store.transact(lambda tr: r.messages.count_tokens(tr, tenant, ids.conversation)) == 10
    )


async def test_a_continuation_from_another_tenant_is_refused(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID, other_tenant: UUID
) -> None:
    for name, query in queries(repos, two_tenants).items():
        first = await store.transact(lambda tr, q=query: q(tr, tenant, None))
        assert first.next is not None, name
        with pytest.raises(InvalidContinuation):
            await store.transact(lambda tr, q=query, a=first.next: q(tr, other_tenant, a))


async def test_a_continuation_from_another_query_is_refused(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID
) -> None:
    qs = queries(repos, two_tenants)
    tokens = {}
    for name, query in qs.items():
        page = await store.transact(lambda tr, q=query: q(tr, tenant, None))
        assert page.next is not None, name
        tokens[name] = page.next
    accepted = []
    for source, target in permutations(qs, 2):
        if {source, target} in NESTED:
            continue
        try:
            await store.transact(lambda tr, q=qs[target], a=tokens[source]: q(tr, tenant, a))
            accepted.append((source, target))
        except InvalidContinuation:
            pass
    assert accepted == []


@pytest.mark.parametrize("token", ["not hex", "00", "ff" * 40])
async def test_a_forged_continuation_is_refused(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID, token: str
) -> None:
    for name, query in queries(repos, two_tenants).items():
        with pytest.raises(InvalidContinuation):
            await store.transact(lambda tr, q=query: q(tr, tenant, token))
            raise AssertionError(f"{name} accepted {token!r}")


async def test_an_empty_continuation_reads_from_the_start(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID, other_tenant: UUID
) -> None:
    """No query ever hands out "" (the end is None), so an empty token can only be a caller's
    "no token yet" (an empty query-string field): it must read the first page, the same as
    None, and still only the caller's tenant, never an error nor an empty page."""
    for name, query in queries(repos, two_tenants).items():
        for t in (tenant, other_tenant):
            first = await store.transact(lambda tr, q=query, t=t: q(tr, t, None))
            empty = await store.transact(lambda tr, q=query, t=t: q(tr, t, ""))
            assert empty == first, name
            assert len(empty.items) == 1 and empty.next is not None, name
            assert {tenant_of(i) for i in empty.items} == {t}, name


async def test_a_continuation_for_another_user_or_window_is_refused(
    store: SqliteStore, repos: Repositories, two_tenants: Shared, tenant: UUID
) -> None:
    ids, r = two_tenants, repos
    page = await store.transact(lambda tr: r.audit.list_by_user(tr, tenant, ids.user, limit=1))
    assert page.next is not None
    with pytest.raises(InvalidContinuation):
        await store.transact(lambda tr: r.audit.list_by_user(tr, tenant, uuid4(), after=page.next))
    with pytest.raises(InvalidContinuation):  # the same user, a window the token lies outside
        await store.transact(
            lambda tr: r.audit.list_by_user(tr, tenant, ids.user, at(days=1), after=page.next)
        )
