"""Conversations, their by-user and by-session indexes, and their message/token counters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from workers.records import Conversation
from workers.repositories.base import (
    DEFAULT_PAGE,
    Index,
    Page,
    Repository,
    Spec,
    diff_indexes,
    last_element,
    scan,
)
from workers.store.keys import Prefix, TenantKeys
from workers.store.port import Transaction, decode_int64

MESSAGE_COUNT = "message_count"
TOKEN_COUNT = "token_count"

Fold = Callable[[Conversation | None], Conversation]
"""What an event makes of a conversation (None: not stored yet); the same object: no change."""


class ConversationRepository(Repository):
    def create(self, tr: Transaction, conversation: Conversation) -> bool:
        """Store a new conversation; False (and no change) if its id exists already."""
        tk = self.keys.tenant(conversation.tenant_id)
        key = tk.conversations.key(conversation.id)
        if tr.get(key) is not None:
            return False
        tr.set(key, conversation.to_json())
        diff_indexes(tr, {}, _entries(tk, conversation))
        return True

    def merge_many(self, tr: Transaction, folds: Sequence[tuple[UUID, UUID, Fold]]) -> None:
        """Fold events into conversations (tenant, id, fold): one read for all of them, a write
        (and its index moves) only where the fold changed something. Counters are not read."""
        keys = [self.keys.tenant(t).conversations.key(c) for t, c, _ in folds]
        for (tenant_id, _, fold), key, raw in zip(folds, keys, tr.get_many(keys), strict=True):
            old = Conversation.model_validate_json(raw) if raw is not None else None
            new = fold(old)
            if new is old:
                continue
            tr.set(key, new.to_json())
            tk = self.keys.tenant(tenant_id)
            diff_indexes(tr, _entries(tk, old) if old is not None else {}, _entries(tk, new))

    def get_by_id(
        self, tr: Transaction, tenant_id: UUID, conversation_id: UUID
    ) -> Conversation | None:
        tk = self.keys.tenant(tenant_id)
        found = self._load_many(tr, tk, [conversation_id])
        return found[0] if found else None

    def get_by_session(
        self,
        tr: Transaction,
        tenant_id: UUID,
        session_id: UUID,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Conversation]:
        tk = self.keys.tenant(tenant_id)
        return self._page(tr, tk, tk.conversations_by_session, session_id, limit, after)

    def list_by_user(
        self,
        tr: Transaction,
        tenant_id: UUID,
        user_id: UUID,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Conversation]:
        tk = self.keys.tenant(tenant_id)
        return self._page(tr, tk, tk.conversations_by_user, user_id, limit, after)

    def list_by_tenant(
        self, tr: Transaction, tenant_id: UUID, limit: int = DEFAULT_PAGE, after: str | None = None
    ) -> Page[Conversation]:
        tk = self.keys.tenant(tenant_id)
        rows, nxt = scan(tr, tk.conversations.range(), limit, after)
        items = [Conversation.model_validate_json(v) for _, v in rows]
        return Page(self._with_counts(tr, tk, items), nxt)

    def update(self, tr: Transaction, conversation: Conversation) -> bool:
        """Replace a conversation, moving its index entries; False if it does not exist."""
        tk = self.keys.tenant(conversation.tenant_id)
        old = self._load(tr, tk, conversation.id)
        if old is None:
            return False
        tr.set(tk.conversations.key(conversation.id), conversation.to_json())
        diff_indexes(tr, _entries(tk, old), _entries(tk, conversation))
        return True

    def delete(self, tr: Transaction, tenant_id: UUID, conversation_id: UUID) -> bool:
        """Remove the conversation and its index entries.

        Its messages stay, so their counters stay too: clearing them would let a later
        message delete drive them negative, and a re-created conversation start miscounted.
        """
        tk = self.keys.tenant(tenant_id)
        old = self._load(tr, tk, conversation_id)
        if old is None:
            return False
        tr.clear(tk.conversations.key(conversation_id))
        diff_indexes(tr, _entries(tk, old), {})
        return True

    def clear_counts(self, tr: Transaction, tenant_id: UUID, conversation_id: UUID) -> None:
        """Drop the conversation's counters (an erasure, once its messages are gone)."""
        tr.clear_range(*self.keys.tenant(tenant_id).counters.range(conversation_id))

    def add_counts(
        self, tr: Transaction, tenant_id: UUID, conversation_id: UUID, messages: int, tokens: int
    ) -> None:
        """Atomic adds: concurrent writers never lose an increment, and nothing is read."""
        counters = self.keys.tenant(tenant_id).counters
        if messages:
            tr.add(counters.key(conversation_id, MESSAGE_COUNT), messages)
        if tokens:
            tr.add(counters.key(conversation_id, TOKEN_COUNT), tokens)

    def counts(self, tr: Transaction, tenant_id: UUID, conversation_id: UUID) -> tuple[int, int]:
        counters = self.keys.tenant(tenant_id).counters
        raw = tr.get_many(
            [
                counters.key(conversation_id, MESSAGE_COUNT),
                counters.key(conversation_id, TOKEN_COUNT),
            ]
        )
        return decode_int64(raw[0]), decode_int64(raw[1])

    def spec(self) -> Spec[Conversation]:
        return Spec(
            name="conversations",
            records=lambda tk: tk.conversations,
            record_id=lambda tail: tail[:1],
            load=lambda tr, tk, ident: self._load(tr, tk, ident[0]),
            entries=_entries,
            indexes=[
                Index("conversations_by_user", lambda tk: tk.conversations_by_user, last_element),
                Index(
                    "conversations_by_session", lambda tk: tk.conversations_by_session, last_element
                ),
            ],
        )

    def _load(self, tr: Transaction, tk: TenantKeys, conversation_id: UUID) -> Conversation | None:
        raw = tr.get(tk.conversations.key(conversation_id))
        return Conversation.model_validate_json(raw) if raw is not None else None

    def _load_many(self, tr: Transaction, tk: TenantKeys, ids: list[UUID]) -> list[Conversation]:
        raws = tr.get_many([tk.conversations.key(i) for i in ids])
        items = [Conversation.model_validate_json(r) for r in raws if r is not None]
        return self._with_counts(tr, tk, items)

    def _with_counts(
        self, tr: Transaction, tk: TenantKeys, items: list[Conversation]
    ) -> list[Conversation]:
        keys = [tk.counters.key(c.id, name) for c in items for name in (MESSAGE_COUNT, TOKEN_COUNT)]
        raws = tr.get_many(keys) if keys else []
        for i, c in enumerate(items):
            c.message_count = decode_int64(raws[2 * i])
            c.token_count = decode_int64(raws[2 * i + 1])
        return items

    def _page(
        self,
        tr: Transaction,
        tk: TenantKeys,
        index: Prefix,
        head: UUID,
        limit: int,
        after: str | None,
    ) -> Page[Conversation]:
        rows, nxt = scan(tr, index.range(head), limit, after)
        ids = [index.tail(k)[-1] for k, _ in rows]
        return Page(self._load_many(tr, tk, ids), nxt)


def _entries(tk: TenantKeys, c: Conversation) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    if c.user_id is not None:
        out[tk.conversations_by_user.key(c.user_id, c.id)] = b""
    if c.workspace_session_id is not None:
        out[tk.conversations_by_session.key(c.workspace_session_id, c.id)] = b""
    return out
