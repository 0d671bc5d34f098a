"""Helpers for repository tests: record factories with defaults, and a page walker.

`Make(tenant).file(file_path="b.py")` overrides only the fields a test is about; pass
`tenant_id=...` to write the same kind of record into another tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from events.audit_types import AuditEventType
from events.enums import AgentType, MessageRole, SettingCategory
from workers.records import Agent, Audit, Conversation, File, Message, Setting
from workers.repositories import Page
from workers.store.port import KeyValue, Store, Transaction

T = TypeVar("T")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float = 0, *, days: float = 0) -> datetime:
    """A moment relative to T0, so tests say "two days later" instead of spelling dates."""
    return T0 + timedelta(days=days, minutes=minutes)


class Make:
    """Valid records for one tenant; every keyword overrides a field."""

    def __init__(self, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self.user_id = uuid4()
        self.session_id = uuid4()

    def _base(self, over: dict[str, Any]) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "id": uuid4(), **over}

    def conversation(self, **over: Any) -> Conversation:
        fields = {"user_id": self.user_id, "workspace_session_id": self.session_id}
        return Conversation(**self._base({**fields, "created_at": T0, "updated_at": T0, **over}))

    def message(self, conversation_id: UUID, **over: Any) -> Message:
        fields = {"role": MessageRole.USER, "content": "hello", "token_count": 10, "created_at": T0}
        return Message(**self._base({"conversation_id": conversation_id, **fields, **over}))

    def audit(self, **over: Any) -> Audit:
        fields = {"event_type": AuditEventType.USER_LOGIN, "user_id": self.user_id}
        return Audit(**self._base({**fields, "occurred_at": T0, **over}))

    def file(self, **over: Any) -> File:
        fields = {"workspace_session_id": self.session_id, "file_path": "src/main.py"}
        times = {"created_at": T0, "updated_at": T0, "last_event_at": T0}
        return File(**self._base({**fields, **times, "checksum": "a" * 64, **over}))

    def agent(self, **over: Any) -> Agent:
        fields = {"name": "planner", "agent_type": AgentType.COORDINATOR}
        return Agent(**self._base({**fields, "created_at": T0, "updated_at": T0, **over}))

    def setting(self, **over: Any) -> Setting:
        fields = {"user_id": self.user_id, "category": SettingCategory.EDITOR, "key": "font_size"}
        return Setting(
            **{"tenant_id": self.tenant_id, **fields, "value": 14, "updated_at": T0, **over}
        )


async def walk(
    store: Store, query: Callable[[Transaction, str | None], Page[T]], max_pages: int = 10_000
) -> list[T]:
    """Every item of a paged query, one transaction per page, following `next` to the end."""
    items: list[T] = []
    after: str | None = None
    for _ in range(max_pages):

        def one_page(tr: Transaction, a: str | None = after) -> Page[T]:
            return query(tr, a)

        page = await store.transact(one_page)
        items.extend(page.items)
        if page.next is None:
            return items
        after = page.next
    raise AssertionError(f"query did not finish within {max_pages} pages")


class CountingTransaction:
    """A transaction proxy that counts the keys each read returns or asks for."""

    def __init__(self, tr: Transaction) -> None:
        self.tr = tr
        self.keys_read = 0
        self.range_reads: list[tuple[bytes, bytes, int]] = []  # (begin, end, limit)

    def get(self, key: bytes) -> bytes | None:
        self.keys_read += 1
        return self.tr.get(key)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self.keys_read += len(keys)
        return self.tr.get_many(keys)

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[KeyValue]:
        rows = self.tr.get_range(begin, end, limit, reverse, snapshot)
        self.range_reads.append((begin, end, limit))
        self.keys_read += len(rows)
        return rows

    def set(self, key: bytes, value: bytes) -> None:
        self.tr.set(key, value)

    def clear(self, key: bytes) -> None:
        self.tr.clear(key)

    def clear_range(self, begin: bytes, end: bytes) -> None:
        self.tr.clear_range(begin, end)

    def add(self, key: bytes, delta: int) -> None:
        self.tr.add(key, delta)


class CountingStore:
    """A store proxy that hands `fn` a `CountingTransaction` and keeps one per attempt."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url
        self.transactions: list[CountingTransaction] = []

    def _wrap(self, fn: Callable[[Transaction], T]) -> Callable[[Transaction], T]:
        def counted(tr: Transaction) -> T:
            proxy = CountingTransaction(tr)
            self.transactions.append(proxy)
            return fn(proxy)

        return counted

    async def transact(self, fn: Callable[[Transaction], T]) -> T:
        return await self.inner.transact(self._wrap(fn))

    def transact_sync(self, fn: Callable[[Transaction], T]) -> T:
        return self.inner.transact_sync(self._wrap(fn))

    async def read(self, fn: Callable[[Transaction], T]) -> T:
        return await self.inner.read(self._wrap(fn))

    async def transact_prepared(self, fn: Callable[[Transaction], T]) -> T:
        return await self.inner.transact_prepared(self._wrap(fn))

    def read_sync(self, fn: Callable[[Transaction], T]) -> T:
        return self.inner.read_sync(self._wrap(fn))

    async def close(self) -> None:
        await self.inner.close()

    @property
    def keys_read(self) -> int:
        return sum(t.keys_read for t in self.transactions)
