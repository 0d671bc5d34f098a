"""The read side of the CLI: each query streams records page by page, never the whole range."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from events import AgentType, AuditEventType, SettingCategory
from workers.errors import NotFound
from workers.repositories import Page, Repositories
from workers.store.port import Store, Transaction

PageFn = Callable[[Transaction, int, str | None], Page[Any]]
V = TypeVar("V")


@dataclass
class Filters:
    tenant: UUID
    id: UUID | None = None
    conversation: UUID | None = None
    user: UUID | None = None
    session: UUID | None = None
    path: str | None = None
    event_type: AuditEventType | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_deleted: bool = False
    type: AgentType | None = None
    category: SettingCategory | None = None
    key: str | None = None
    offset: int = 0
    limit: int | None = None  # None: everything that matches


class UsageError(ValueError):
    """A query asked without the filter it needs."""


async def stream(store: Store, pages: PageFn, f: Filters) -> AsyncIterator[BaseModel]:
    """Walk continuation tokens, one short transaction per page; honour offset and limit."""
    after: str | None = None
    skip, left = f.offset, f.limit
    while left is None or left > 0:
        page = await store.read(_bind(pages, after))
        for item in page.items:
            if skip:
                skip -= 1
                continue
            yield item
            if left is not None:
                left -= 1
                if left == 0:
                    return
        if page.next is None:
            return
        after = page.next


def _bind(pages: PageFn, after: str | None) -> Callable[[Transaction], Page[Any]]:
    return lambda tr: pages(tr, 500, after)


def lister(repos: Repositories, what: str, f: Filters) -> PageFn:
    """The page function for a list query, or UsageError naming the missing filter."""
    t, since, until = f.tenant, f.since, f.until
    if what == "conversation":
        if f.user is not None:
            user = f.user
            return lambda tr, n, a: repos.conversations.list_by_user(tr, t, user, n, a)
        if f.session is not None:
            session = f.session
            return lambda tr, n, a: repos.conversations.get_by_session(tr, t, session, n, a)
        return lambda tr, n, a: repos.conversations.list_by_tenant(tr, t, n, a)
    if what == "messages":
        conv = _need(f.conversation, "--conversation")
        return lambda tr, n, a: repos.messages.list_by_conversation(tr, t, conv, 0, n, a)
    if what == "audit":
        if f.user is not None:
            user = f.user
            return lambda tr, n, a: repos.audit.list_by_user(tr, t, user, since, until, n, a)
        if f.event_type is not None:
            kind = f.event_type
            return lambda tr, n, a: repos.audit.list_by_event(tr, t, kind, since, until, n, a)
        return lambda tr, n, a: repos.audit.list_by_date(tr, t, since, until, n, a)
    if what == "files":
        session, deleted = _need(f.session, "--session"), f.include_deleted
        return lambda tr, n, a: repos.files.list_by_session(tr, t, session, deleted, n, a)
    if what == "agents":
        if f.type is not None:
            agent_type = f.type
            return lambda tr, n, a: repos.agents.list_by_type(tr, t, agent_type, n, a)
        return lambda tr, n, a: repos.agents.list_by_tenant(tr, t, n, a)
    if what == "settings":
        category = f.category
        if f.user is not None:
            user = f.user
            return lambda tr, n, a: repos.settings.get_all(tr, t, user, category, n, a)
        by_category = _need(category, "--user or --category")
        return lambda tr, n, a: repos.settings.list_by_category(tr, t, by_category, n, a)
    raise UsageError(f"{what} is not a list query")


async def one(store: Store, repos: Repositories, what: str, f: Filters) -> BaseModel:
    """A single record by id (or a file by session and path); NotFound if absent."""
    t = f.tenant

    def read(tr: Transaction) -> BaseModel | None:
        if what == "conversation":
            return repos.conversations.get_by_id(tr, t, _need(f.id, "--id"))
        if what == "agent":
            return repos.agents.get_by_id(tr, t, _need(f.id, "--id"))
        if what == "messages":
            return repos.messages.get_by_id(tr, t, _need(f.id, "--id"))
        if what == "audit":
            return repos.audit.get_by_id(tr, t, _need(f.id, "--id"))
        if what in ("file", "files"):
            if f.id:
                return repos.files.get_by_id(tr, t, f.id)
            session, path = _need(f.session, "--session"), _need(f.path, "--path (or --id)")
            return repos.files.get_by_path(tr, t, session, path, f.include_deleted)
        if what == "settings":
            user, category = _need(f.user, "--user"), _need(f.category, "--category")
            return repos.settings.get(tr, t, user, category, _need(f.key, "--key"))
        raise UsageError(f"{what} has no single-record form")

    found = await store.read(read)
    if found is None:
        raise NotFound(what, f.id or f.path or f.key)
    return found


def _need(value: V | None, flag: str) -> V:
    if value is None:
        raise UsageError(f"this query needs {flag}")
    return value
