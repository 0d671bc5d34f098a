"""Messages: content stored intact in 100 KB chunks, indexed by conversation in time order."""

from __future__ import annotations

from uuid import UUID

from workers.ids import to_ms
from workers.records import Message
from workers.repositories.base import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Index,
    Page,
    Repository,
    Spec,
    diff_indexes,
    last_element,
    read_chunked,
    scan,
    write_chunked,
)
from workers.repositories.conversations import ConversationRepository
from workers.store.keys import Keys, TenantKeys
from workers.store.port import Transaction, encode_int64


class MessageRepository(Repository):
    def __init__(self, keys: Keys) -> None:
        super().__init__(keys)
        self.conversations = ConversationRepository(keys)

    def create(self, tr: Transaction, message: Message) -> bool:
        """Store a message and count it; False (and no change) if its id exists already."""
        tk = self.keys.tenant(message.tenant_id)
        if tr.get(tk.messages.key(message.id, 0)) is not None:
            return False
        self._write_new(tr, tk, message)
        return True

    def create_many(self, tr: Transaction, messages: list[Message]) -> list[bool]:
        """`create` for a batch, with one read for all the existence checks."""
        heads = [self.keys.tenant(m.tenant_id).messages.key(m.id, 0) for m in messages]
        created: list[bool] = []
        seen: set[bytes] = set()
        for message, head, existing in zip(messages, heads, tr.get_many(heads), strict=True):
            new = existing is None and head not in seen
            if new:
                seen.add(head)
                self._write_new(tr, self.keys.tenant(message.tenant_id), message)
            created.append(new)
        return created

    def _write_new(self, tr: Transaction, tk: TenantKeys, message: Message) -> None:
        write_chunked(tr, tk.messages, (message.id,), message.to_json(), fresh=True)
        diff_indexes(tr, {}, _entries(tk, message))
        self.conversations.add_counts(
            tr, message.tenant_id, message.conversation_id, 1, message.token_count
        )

    def get_by_id(self, tr: Transaction, tenant_id: UUID, message_id: UUID) -> Message | None:
        return self._load(tr, self.keys.tenant(tenant_id), message_id)

    def list_by_conversation(
        self,
        tr: Transaction,
        tenant_id: UUID,
        conversation_id: UUID,
        offset: int = 0,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Message]:
        """Oldest first. `offset` skips that many (it costs a scan of them: prefer `after`)."""
        tk = self.keys.tenant(tenant_id)
        index = tk.messages_by_conversation
        rng = index.range(conversation_id)
        while offset > 0:  # skip in pages: one scan stops at MAX_PAGE keys
            skipped, after = scan(tr, rng, min(offset, MAX_PAGE), after)
            offset -= len(skipped)
            if after is None:
                return Page([], None)
        rows, nxt = scan(tr, rng, limit, after)
        ids = [index.tail(k)[-1] for k, _ in rows]
        items = [m for m in (self._load(tr, tk, i) for i in ids) if m is not None]
        return Page(items, nxt)

    def delete(self, tr: Transaction, tenant_id: UUID, message_id: UUID) -> bool:
        """Remove a message, its index entry, and its share of the conversation's counters."""
        old = self._load(tr, self.keys.tenant(tenant_id), message_id)
        if old is None:
            return False
        self.remove(tr, old)
        return True

    def remove(self, tr: Transaction, message: Message) -> None:
        """`delete` of a message already read (an erasure lists, then removes)."""
        tk = self.keys.tenant(message.tenant_id)
        tr.clear_range(*tk.messages.range(message.id))
        diff_indexes(tr, _entries(tk, message), {})
        self.conversations.add_counts(
            tr, message.tenant_id, message.conversation_id, -1, -message.token_count
        )

    def count_tokens(self, tr: Transaction, tenant_id: UUID, conversation_id: UUID) -> int:
        """From the conversation's counter: O(1), never a scan of its messages."""
        return self.conversations.counts(tr, tenant_id, conversation_id)[1]

    def spec(self) -> Spec[Message]:
        return Spec(
            name="messages",
            records=lambda tk: tk.messages,
            record_id=lambda tail: tail[:1] if tail[1] == 0 else None,
            load=lambda tr, tk, ident: self._load(tr, tk, ident[0]),
            entries=_entries,
            indexes=[
                Index(
                    "messages_by_conversation",
                    lambda tk: tk.messages_by_conversation,
                    last_element,
                )
            ],
        )

    def _load(self, tr: Transaction, tk: TenantKeys, message_id: UUID) -> Message | None:
        raw = read_chunked(tr, tk.messages, (message_id,))
        return Message.model_validate_json(raw) if raw is not None else None


def _entries(tk: TenantKeys, m: Message) -> dict[bytes, bytes]:
    key = tk.messages_by_conversation.key(m.conversation_id, to_ms(m.created_at), m.id)
    return {key: encode_int64(m.token_count)}
