"""The queries `query` and the reads service answer: which filters each record kind takes, and
the page function that answers them; records are read page by page, never the whole range at
once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from events import AgentType, AuditEventType, SettingCategory
from workers.errors import NotFound
from workers.reads.kinds import RecordKind
from workers.records import Audit, File
from workers.repositories import Page, Repositories
from workers.store.port import Store, Transaction


class BadQuery(ValueError):
    """A filter missing or one that does not apply: the caller's to fix (`query` exits 2, the
    reads service answers 400)."""


PageFn = Callable[[Transaction, int, str | None], Page[Any]]
Keep = Callable[[Any], bool]
V = TypeVar("V")
K = RecordKind


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

    def given(self) -> set[str]:
        """The filters set on the command line (tenant, offset and limit aside)."""
        paging = {"tenant", "offset", "limit"}
        return {
            f.name
            for f in fields(self)
            if f.name not in paging and getattr(self, f.name) not in (None, False)
        }


ACCEPTS: dict[K, frozenset[str]] = {
    K.CONVERSATION: frozenset({"id", "user", "session"}),
    K.MESSAGES: frozenset({"id", "conversation"}),
    K.AUDIT: frozenset({"id", "user", "event_type", "since", "until"}),
    K.FILES: frozenset({"id", "user", "session", "path", "include_deleted"}),
    K.FILE: frozenset({"id", "session", "path", "include_deleted"}),
    K.AGENTS: frozenset({"id", "type"}),
    K.AGENT: frozenset({"id"}),
    K.SETTINGS: frozenset({"user", "category", "key"}),
}
"""The filters each kind can apply. Any other is refused (exit 2): ignoring it would answer
another question (`query audit --conversation C` listing the whole trail)."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def refuse_unused(what: K, f: Filters) -> None:
    unused = sorted(f.given() - ACCEPTS[what])
    if unused:
        takes = ", ".join(flag(n) for n in sorted(ACCEPTS[what]))
        raise BadQuery(
            f"{', '.join(flag(n) for n in unused)} does not apply to {what.value}; "
            f"{what.value} takes {takes}"
        )


def is_single(what: K, f: Filters) -> bool:
    """One record (by id, a file by session and path, a setting by key), not a list."""
    return (
        what in (K.FILE, K.AGENT)
        or f.id is not None
        or f.key is not None
        or (what is K.FILES and f.path is not None)
    )


async def stream(
    store: Store, pages: PageFn, f: Filters, keep: Keep | None = None
) -> AsyncIterator[BaseModel]:
    """Walk continuation tokens, one short transaction per page; honour offset and limit."""
    after: str | None = None
    skip, left = f.offset, f.limit
    while left is None or left > 0:
        page = await store.read(_bind(pages, after))
        for item in page.items:
            if keep is not None and not keep(item):
                continue
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


def lister(repos: Repositories, what: K, f: Filters) -> tuple[PageFn, Keep | None]:
    """The page function of a list query, and what to keep of its pages (a second filter the
    index cannot apply); BadQuery naming a missing or inapplicable filter."""
    refuse_unused(what, f)
    t, since, until = f.tenant, f.since, f.until
    if what is K.CONVERSATION:
        if f.user is not None and f.session is not None:
            session = f.session
            return _conversations_by_user(
                repos, t, f.user
            ), lambda c: c.workspace_session_id == session
        if f.user is not None:
            return _conversations_by_user(repos, t, f.user), None
        if f.session is not None:
            by_session = f.session
            return lambda tr, n, a: repos.conversations.get_by_session(
                tr, t, by_session, n, a
            ), None
        return lambda tr, n, a: repos.conversations.list_by_tenant(tr, t, n, a), None
    if what is K.MESSAGES:
        conv = _need(f.conversation, "--conversation")
        return lambda tr, n, a: repos.messages.list_by_conversation(tr, t, conv, 0, n, a), None
    if what is K.AUDIT:
        kind = f.event_type
        if f.user is not None:
            user = f.user
            keep = None if kind is None else _audit_of(kind)
            return lambda tr, n, a: repos.audit.list_by_user(tr, t, user, since, until, n, a), keep
        if kind is not None:
            return lambda tr, n, a: repos.audit.list_by_event(tr, t, kind, since, until, n, a), None
        return lambda tr, n, a: repos.audit.list_by_date(tr, t, since, until, n, a), None
    if what is K.FILES:
        return _files(repos, f)
    if what is K.AGENTS:
        if f.type is not None:
            agent_type = f.type
            return lambda tr, n, a: repos.agents.list_by_type(tr, t, agent_type, n, a), None
        return lambda tr, n, a: repos.agents.list_by_tenant(tr, t, n, a), None
    if what is K.SETTINGS:
        category = f.category
        if f.user is not None:
            user = f.user
            return lambda tr, n, a: repos.settings.get_all(tr, t, user, category, n, a), None
        by_category = _need(category, "--user or --category")
        return lambda tr, n, a: repos.settings.list_by_category(tr, t, by_category, n, a), None
    raise BadQuery(f"{what.value} is one record: give --id")


def _conversations_by_user(repos: Repositories, t: UUID, user: UUID) -> PageFn:
    return lambda tr, n, a: repos.conversations.list_by_user(tr, t, user, n, a)


def _audit_of(kind: AuditEventType) -> Keep:
    return lambda record: isinstance(record, Audit) and record.event_type == kind


def _files(repos: Repositories, f: Filters) -> tuple[PageFn, Keep | None]:
    """By session (its index), else every file of the tenant, of one user if asked."""
    t, deleted, user = f.tenant, f.include_deleted, f.user

    def wanted(record: Any) -> bool:
        return isinstance(record, File) and (user is None or record.user_id == user)

    if f.session is not None:
        session = f.session
        pages: PageFn = lambda tr, n, a: repos.files.list_by_session(  # noqa: E731
            tr, t, session, deleted, n, a
        )
        return pages, None if user is None else wanted
    spec = repos.files.spec()

    def every(record: Any) -> bool:
        return wanted(record) and (deleted or not record.is_deleted)

    return lambda tr, n, a: repos.tenants.records(tr, spec, t, n, a), every


async def one(store: Store, repos: Repositories, what: K, f: Filters) -> BaseModel:
    """A single record by id (or a file by session and path); NotFound if absent."""
    refuse_unused(what, f)
    t = f.tenant

    def read(tr: Transaction) -> BaseModel | None:
        if what is K.CONVERSATION:
            return repos.conversations.get_by_id(tr, t, _need(f.id, "--id"))
        if what in (K.AGENT, K.AGENTS):
            return repos.agents.get_by_id(tr, t, _need(f.id, "--id"))
        if what is K.MESSAGES:
            return repos.messages.get_by_id(tr, t, _need(f.id, "--id"))
        if what is K.AUDIT:
            return repos.audit.get_by_id(tr, t, _need(f.id, "--id"))
        if what in (K.FILE, K.FILES):
            if f.id:
                found = repos.files.get_by_id(tr, t, f.id)
                return found if found is None or f.include_deleted or not found.is_deleted else None
            session, path = _need(f.session, "--session"), _need(f.path, "--path (or --id)")
            return repos.files.get_by_path(tr, t, session, path, f.include_deleted)
        if what is K.SETTINGS:
            user, category = _need(f.user, "--user"), _need(f.category, "--category")
            return repos.settings.get(tr, t, user, category, _need(f.key, "--key"))
        raise BadQuery(f"{what.value} has no single-record form")

    found = await store.read(read)
    if found is None:
        raise NotFound(what.value.rstrip("s"), f.id or f.path or f.key)
    return found


def _need(value: V | None, option: str) -> V:
    if value is None:
        raise BadQuery(f"this query needs {option}")
    return value
