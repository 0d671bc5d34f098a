"""The consistency check: clean on what the repositories write, precise about what breaks.

Corruption is made behind the repositories' back, with raw keys built by `keys.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from events.audit_types import AuditEventType
from events.enums import AgentType, MessageRole, SettingCategory
from workers.ids import day_of, to_ms
from workers.records import Agent, Audit, Conversation, File, Message, Setting, legacy_version
from workers.repositories import Repositories
from workers.repositories.integrity import Problem, check
from workers.store.keys import TenantKeys
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MS = to_ms(WHEN)
GONE = legacy_version(WHEN)  # where a file soft-deleted at WHEN sorts among a path's gone files


@dataclass(frozen=True)
class World:
    """One record of every model in a tenant; the ids are the same in every tenant."""

    user: UUID
    session: UUID
    conversation: UUID
    message: UUID
    audit: UUID
    file: UUID
    agent: UUID

    def write(self, tr: Transaction, repos: Repositories, t: UUID) -> None:
        stamps = {"created_at": WHEN, "updated_at": WHEN}
        repos.conversations.create(
            tr,
            Conversation(
                tenant_id=t,
                id=self.conversation,
                user_id=self.user,
                workspace_session_id=self.session,
                **stamps,
            ),
        )
        repos.messages.create(
            tr,
            Message(
                tenant_id=t,
                id=self.message,
                conversation_id=self.conversation,
                role=MessageRole.USER,
                content="hi",
                token_count=3,
                created_at=WHEN,
            ),
        )
        repos.audit.create(
            tr,
            Audit(
                tenant_id=t,
                id=self.audit,
                event_type=AuditEventType.USER_LOGIN,
                user_id=self.user,
                occurred_at=WHEN,
            ),
        )
        repos.files.create(
            tr,
            File(
                tenant_id=t,
                id=self.file,
                workspace_session_id=self.session,
                file_path="src/main.py",
                last_event_at=WHEN,
                **stamps,
            ),
        )
        repos.files.soft_delete(tr, t, self.file, WHEN)  # so the purge queue has an entry too
        repos.agents.create(
            tr,
            Agent(
                tenant_id=t,
                id=self.agent,
                name="planner",
                agent_type=AgentType.COORDINATOR,
                **stamps,
            ),
        )
        repos.settings.set(
            tr,
            Setting(
                tenant_id=t,
                user_id=self.user,
                category=SettingCategory.EDITOR,
                key="font_size",
                value=14,
                updated_at=WHEN,
            ),
        )
        repos.tenants.mark_seen(tr, t)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    engine = SqliteStore(tmp_path / "check.db")
    yield engine
    await engine.close()


@pytest.fixture
def repos() -> Repositories:
    return Repositories()


@pytest.fixture
def tenants() -> tuple[UUID, UUID]:
    return uuid4(), uuid4()


@pytest.fixture
async def world(store: SqliteStore, repos: Repositories, tenants: tuple[UUID, UUID]) -> World:
    w = World(uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4())
    for t in tenants:
        await store.transact(lambda tr, t=t: w.write(tr, repos, t))
    return w


async def corrupt(
    store: SqliteStore, repos: Repositories, t: UUID, w: World, how: Callable[..., Any]
) -> list[tuple[Any, ...]]:
    """Apply `how(tr, tk, w)` raw; return the index keys it names, as the check shows them."""
    tk = repos.keys.tenant(t)
    keys: list[bytes] = await store.transact(lambda tr: how(tr, tk, w))
    return [tk.all.tail(k) for k in keys]


async def test_check_is_clean_on_what_the_repositories_wrote(
    store: SqliteStore, repos: Repositories, world: World
) -> None:
    report = await check(store, repos)
    assert report.clean, report.problems
    assert report.tenants == 2
    assert report.records == 2 * 6
    assert report.index_entries == 2 * 11  # 2 + 1 + 3 + 3 + 1 + 1 per tenant


def drop_conversation(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
    tr.clear(tk.conversations.key(w.conversation))
    return [
        tk.conversations_by_user.key(w.user, w.conversation),
        tk.conversations_by_session.key(w.session, w.conversation),
    ]


def drop_message(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
    tr.clear_range(*tk.messages.range(w.message))  # every chunk
    return [tk.messages_by_conversation.key(w.conversation, MS, w.message)]


def drop_audit(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
    tr.clear(tk.audit.key(w.audit))
    return [
        tk.audit_by_user.key(w.user, MS, w.audit),
        tk.audit_by_event.key(AuditEventType.USER_LOGIN.value, MS, w.audit),
        tk.audit_by_date.key(day_of(MS), MS, w.audit),
    ]


def drop_file(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
    tr.clear(tk.files.key(w.file))
    return [
        tk.files_by_session.key(w.session, w.file),
        tk.files_gone_by_path.key(w.session, "src/main.py", GONE, w.file),
        tk.files_deleted.key(MS, w.file),
    ]


def drop_agent(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
    tr.clear_range(*tk.agents.range(w.agent))
    return [tk.agents_by_type.key(AgentType.COORDINATOR.value, w.agent)]


def drop_setting(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
    tr.clear(tk.settings.key(w.user, SettingCategory.EDITOR.value, "font_size"))
    return [tk.settings_by_category.key(SettingCategory.EDITOR.value, w.user, "font_size")]


@pytest.mark.parametrize(
    "drop",
    [drop_conversation, drop_message, drop_audit, drop_file, drop_agent, drop_setting],
)
async def test_a_record_removed_behind_the_repositorys_back_leaves_index_entries_without_record(
    store: SqliteStore,
    repos: Repositories,
    world: World,
    tenants: tuple[UUID, UUID],
    drop: Callable[[Transaction, TenantKeys, World], list[bytes]],
) -> None:
    t = tenants[0]
    orphans = await corrupt(store, repos, t, world, drop)
    report = await check(store, repos)
    assert sorted(report.problems, key=str) == sorted(
        (
            Problem(tenant_id=t, model=key[0], kind="index entry without record", key=key)
            for key in orphans
        ),
        key=str,
    )


def lose(index: str, *tail: Any) -> Callable[[Transaction, TenantKeys, World], list[bytes]]:
    """A corruption: clear one index entry, named by its index and key tail (ids as attrs)."""

    def fn(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
        key = getattr(tk, index).key(*(getattr(w, p) if p in w.__dict__ else p for p in tail))
        tr.clear(key)
        return [key]

    fn.__name__ = f"lose_{index}"
    return fn


@pytest.mark.parametrize(
    ("model", "how"),
    [
        ("conversations", lose("conversations_by_session", "session", "conversation")),
        ("messages", lose("messages_by_conversation", "conversation", MS, "message")),
        ("audit", lose("audit_by_event", AuditEventType.USER_LOGIN.value, MS, "audit")),
        ("audit", lose("audit_by_date", day_of(MS), MS, "audit")),
        ("files", lose("files_gone_by_path", "session", "src/main.py", GONE, "file")),
        ("files", lose("files_deleted", MS, "file")),
        ("agents", lose("agents_by_type", AgentType.COORDINATOR.value, "agent")),
        (
            "settings",
            lose("settings_by_category", SettingCategory.EDITOR.value, "user", "font_size"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
async def test_a_removed_index_entry_is_reported_missing(
    store: SqliteStore,
    repos: Repositories,
    world: World,
    tenants: tuple[UUID, UUID],
    model: str,
    how: Callable[[Transaction, TenantKeys, World], list[bytes]],
) -> None:
    t = tenants[0]
    (key,) = await corrupt(store, repos, t, world, how)
    report = await check(store, repos)
    assert report.problems == [
        Problem(tenant_id=t, model=model, kind="missing index entry", key=key)
    ]


def point(index: str, *tail: Any, value: str = "") -> Callable[..., list[bytes]]:
    """A corruption: an extra entry in `index` for a record that exists but does not list it."""

    def fn(tr: Transaction, tk: TenantKeys, w: World) -> list[bytes]:
        key = getattr(tk, index).key(*(getattr(w, p) if p in w.__dict__ else p for p in tail))
        tr.set(key, getattr(w, value).bytes if value else b"")
        return [key]

    fn.__name__ = f"stale_{index}"
    return fn


STRANGER = uuid4()


@pytest.mark.parametrize(
    "how",
    [
        point("conversations_by_user", STRANGER, "conversation"),
        point("messages_by_conversation", "conversation", MS + 1, "message"),
        point("audit_by_user", "user", MS - 60_000, "audit"),
        point("files_by_session", STRANGER, "file"),
        point("files_by_path", "session", "elsewhere.py", value="file"),
        point("agents_by_type", AgentType.SPECIALIST.value, "agent"),
    ],
    ids=lambda fn: fn.__name__,
)
async def test_an_index_entry_for_a_record_that_does_not_list_it_is_reported_stale(
    store: SqliteStore,
    repos: Repositories,
    world: World,
    tenants: tuple[UUID, UUID],
    how: Callable[[Transaction, TenantKeys, World], list[bytes]],
) -> None:
    t = tenants[0]
    (key,) = await corrupt(store, repos, t, world, how)
    report = await check(store, repos)
    assert report.problems == [
        Problem(tenant_id=t, model=key[0], kind="stale index entry", key=key)
    ]


async def test_the_tenant_filter_checks_only_that_tenant(
    store: SqliteStore, repos: Repositories, world: World, tenants: tuple[UUID, UUID]
) -> None:
    broken, healthy = tenants
    await corrupt(store, repos, broken, world, drop_conversation)
    only_healthy = await check(store, repos, tenant_id=healthy)
    assert only_healthy.clean and only_healthy.tenants == 1 and only_healthy.records == 6
    only_broken = await check(store, repos, tenant_id=broken)
    everyone = await check(store, repos)
    assert len(only_broken.problems) == 2 and only_broken.tenants == 1
    assert {p.tenant_id for p in only_broken.problems} == {broken}
    assert everyone.problems == only_broken.problems and everyone.tenants == 2


async def test_check_walks_a_tenant_larger_than_one_page(
    store: SqliteStore, repos: Repositories, tenants: tuple[UUID, UUID]
) -> None:
    t = tenants[0]

    def many(tr: Transaction) -> None:
        for i in range(450):
            w = World(uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4())
            if i % 50 == 0:
                w.write(tr, repos, t)
            repos.audit.create(
                tr,
                Audit(
                    tenant_id=t,
                    id=uuid4(),
                    event_type=AuditEventType.API_ERROR,
                    occurred_at=WHEN,
                ),
            )

    await store.transact(many)
    report = await check(store, repos, tenant_id=t)
    assert report.clean, report.problems
    assert report.records == 450 + 9 * 6
