"""Every query method of one tenant, compared with the model (see `repo_model`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from repo_helpers import at, walk
from repo_model import (
    AGENTS,
    AUDIT_TYPES,
    AUDITS,
    CATEGORIES,
    CONVERSATIONS,
    FILES,
    KEYS,
    MESSAGES,
    PATHS,
    SESSIONS,
    USERS,
    R,
    TenantModel,
)

from events.enums import AgentType
from workers.ids import to_ms
from workers.records import Conversation
from workers.repositories import Page
from workers.store.port import Store, Transaction


def by(*fields: str) -> Callable[[Any], tuple[Any, ...]]:
    """Sort key in index order: times by their millisecond, everything else as it is."""

    def key(item: Any) -> tuple[Any, ...]:
        values = (getattr(item, f) for f in fields)
        return tuple(to_ms(v) if hasattr(v, "timestamp") else v for v in values)

    return key


class Compare:
    """Every query of one tenant against the model; pages walked `limit` items at a time."""

    def __init__(self, store: Store, t: UUID, tm: TenantModel, limit: int) -> None:
        self.store, self.t, self.tm, self.limit = store, t, tm, limit

    async def one(self, what: str, read: Callable[[Transaction], Any], expected: Any) -> None:
        got = await self.store.transact(read)
        assert got == expected, f"{what}: {got!r} != {expected!r}"

    async def paged(
        self,
        what: str,
        query: Callable[[Transaction, int, str | None], Page[Any]],
        expected: Sequence[Any],
    ) -> None:
        got = await walk(self.store, lambda tr, after: query(tr, self.limit, after))
        assert got == list(expected), f"{what}: {got!r} != {list(expected)!r}"

    def counted(self, c: Conversation) -> Conversation:
        n, tokens = self.tm.count(c.id)
        return c.model_copy(update={"message_count": n, "token_count": tokens})

    async def conversations(self) -> None:
        t, tm = self.t, self.tm
        convs = [self.counted(c) for c in sorted(tm.conversations.values(), key=by("id"))]
        for cid in CONVERSATIONS:
            expected = next((c for c in convs if c.id == cid), None)
            await self.one(
                "conversation", lambda tr, c=cid: R.conversations.get_by_id(tr, t, c), expected
            )
            await self.one(
                "counts", lambda tr, c=cid: R.conversations.counts(tr, t, c), tm.count(cid)
            )
        for u in USERS:
            mine = [c for c in convs if c.user_id == u]
            await self.paged(
                "by user", lambda tr, n, a, u=u: R.conversations.list_by_user(tr, t, u, n, a), mine
            )
        for s in SESSIONS:
            mine = [c for c in convs if c.workspace_session_id == s]
            await self.paged(
                "by session",
                lambda tr, n, a, s=s: R.conversations.get_by_session(tr, t, s, n, a),
                mine,
            )
        await self.paged(
            "by tenant", lambda tr, n, a: R.conversations.list_by_tenant(tr, t, n, a), convs
        )

    async def messages(self) -> None:
        t, tm = self.t, self.tm
        for mid in MESSAGES:
            await self.one(
                "message", lambda tr, m=mid: R.messages.get_by_id(tr, t, m), tm.messages.get(mid)
            )
        for cid in CONVERSATIONS:
            mine = sorted(
                (m for m in tm.messages.values() if m.conversation_id == cid),
                key=by("created_at", "id"),
            )
            await self.paged(
                "by conversation",
                lambda tr, n, a, c=cid: R.messages.list_by_conversation(tr, t, c, 0, n, a),
                mine,
            )
            for offset in (1, 2):
                page = await self.store.transact(
                    lambda tr, c=cid, o=offset: R.messages.list_by_conversation(
                        tr, t, c, o, self.limit
                    )
                )
                assert page.items == mine[offset : offset + self.limit], f"offset {offset}"
            await self.one(
                "tokens", lambda tr, c=cid: R.messages.count_tokens(tr, t, c), tm.count(cid)[1]
            )

    async def audit(self, start: int, end: int) -> None:
        t, tm = self.t, self.tm
        audits = sorted(tm.audits.values(), key=by("occurred_at", "id"))
        lo, hi = at(start), at(end)
        window = [a for a in audits if to_ms(lo) <= to_ms(a.occurred_at) < to_ms(hi)]
        for aid in AUDITS:
            await self.one(
                "audit", lambda tr, i=aid: R.audit.get_by_id(tr, t, i), tm.audits.get(aid)
            )
        for u in USERS:
            await self.paged(
                "audit by user",
                lambda tr, n, a, u=u: R.audit.list_by_user(tr, t, u, limit=n, after=a),
                [a for a in audits if a.user_id == u],
            )
            await self.paged(
                "audit by user, window",
                lambda tr, n, a, u=u: R.audit.list_by_user(tr, t, u, lo, hi, n, a),
                [a for a in window if a.user_id == u],
            )
        for e in AUDIT_TYPES:
            await self.paged(
                "audit by event",
                lambda tr, n, a, e=e: R.audit.list_by_event(tr, t, e, limit=n, after=a),
                [a for a in audits if a.event_type == e],
            )
            await self.paged(
                "audit by event, window",
                lambda tr, n, a, e=e: R.audit.list_by_event(tr, t, e, lo, hi, n, a),
                [a for a in window if a.event_type == e],
            )
        await self.paged(
            "audit by date", lambda tr, n, a: R.audit.list_by_date(tr, t, limit=n, after=a), audits
        )
        await self.paged(
            "audit by date, window",
            lambda tr, n, a: R.audit.list_by_date(tr, t, lo, hi, n, a),
            window,
        )

    async def files(self) -> None:
        t, tm = self.t, self.tm
        files = sorted(tm.files.values(), key=by("id"))
        for fid in FILES:
            await self.one("file", lambda tr, f=fid: R.files.get_by_id(tr, t, f), tm.files.get(fid))
        for s in SESSIONS:
            for path in PATHS:
                found = tm.occupant(s, path)
                live = found if found is not None and not found.is_deleted else None
                await self.one(
                    "by path", lambda tr, s=s, p=path: R.files.get_by_path(tr, t, s, p), live
                )
                await self.one(
                    "by path, deleted too",
                    lambda tr, s=s, p=path: R.files.get_by_path(tr, t, s, p, True),
                    found,
                )
            mine = [f for f in files if f.workspace_session_id == s]
            await self.paged(
                "files",
                lambda tr, n, a, s=s: R.files.list_by_session(tr, t, s, False, n, a),
                [f for f in mine if not f.is_deleted],
            )
            await self.paged(
                "files, deleted too",
                lambda tr, n, a, s=s: R.files.list_by_session(tr, t, s, True, n, a),
                mine,
            )

    async def agents(self) -> None:
        t, tm = self.t, self.tm
        agents = sorted(tm.agents.values(), key=lambda a: (a.agent_type.value, a.id))
        for aid in AGENTS:
            await self.one(
                "agent", lambda tr, i=aid: R.agents.get_by_id(tr, t, i), tm.agents.get(aid)
            )
        await self.paged("agents", lambda tr, n, a: R.agents.list_by_tenant(tr, t, n, a), agents)
        for kind in AgentType:
            await self.paged(
                "agents by type",
                lambda tr, n, a, k=kind: R.agents.list_by_type(tr, t, k, n, a),
                [a for a in agents if a.agent_type == kind],
            )

    async def settings(self) -> None:
        t, tm = self.t, self.tm
        for (u, c, k), expected in [
            ((u, c, k), tm.settings.get((u, c, k))) for u in USERS for c in CATEGORIES for k in KEYS
        ]:
            await self.one(
                "setting", lambda tr, u=u, c=c, k=k: R.settings.get(tr, t, u, c, k), expected
            )
        for u in USERS:
            mine = sorted(
                (s for s in tm.settings.values() if s.user_id == u),
                key=lambda s: (s.category.value, s.key),
            )
            await self.paged(
                "settings", lambda tr, n, a, u=u: R.settings.get_all(tr, t, u, None, n, a), mine
            )
            for c in CATEGORIES:
                await self.paged(
                    "settings in category",
                    lambda tr, n, a, u=u, c=c: R.settings.get_all(tr, t, u, c, n, a),
                    [s for s in mine if s.category == c],
                )
        for c in CATEGORIES:
            everyone = sorted(
                (s for s in tm.settings.values() if s.category == c),
                key=lambda s: (s.user_id, s.key),
            )
            await self.paged(
                "by category",
                lambda tr, n, a, c=c: R.settings.list_by_category(tr, t, c, n, a),
                everyone,
            )
