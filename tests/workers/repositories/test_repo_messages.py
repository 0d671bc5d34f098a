"""MessageRepository: chunked content, the by-conversation index in time order, counters."""

from __future__ import annotations

from uuid import UUID, uuid4

from repo_helpers import CountingTransaction, Make, at, walk

from workers.records import Message
from workers.repositories import Page, Repositories
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore


async def create_all(store: SqliteStore, repos: Repositories, messages: list[Message]) -> None:
    await store.transact(lambda tr: repos.messages.create_many(tr, messages))


async def counts(store: SqliteStore, repos: Repositories, t: UUID, conv: UUID) -> tuple[int, int]:
    return await store.transact(lambda tr: repos.conversations.counts(tr, t, conv))


async def test_created_message_reads_back_and_counts_once(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = uuid4()
    msg = make.message(conv, token_count=42, model="qwen/qwq-32b")
    assert await store.transact(lambda tr: repos.messages.create(tr, msg))
    assert not await store.transact(lambda tr: repos.messages.create(tr, msg))
    got = await store.transact(lambda tr: repos.messages.get_by_id(tr, make.tenant_id, msg.id))
    assert got == msg
    assert await counts(store, repos, make.tenant_id, conv) == (1, 42)


async def test_a_message_repeated_within_one_batch_is_created_and_counted_once(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    msg = make.message(uuid4(), token_count=3)
    created = await store.transact(lambda tr: repos.messages.create_many(tr, [msg, msg]))
    assert created == [True, False]
    assert await counts(store, repos, make.tenant_id, msg.conversation_id) == (1, 3)


async def test_missing_message_reads_as_none(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    assert await store.transact(lambda tr: repos.messages.get_by_id(tr, tenant, uuid4())) is None


async def test_list_by_conversation_is_oldest_first_whatever_the_ids(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = uuid4()
    msgs = [make.message(conv, created_at=at(minutes=m)) for m in (5, 1, 4, 2, 3)]
    await create_all(store, repos, [*msgs, make.message(uuid4())])
    page = await store.transact(
        lambda tr: repos.messages.list_by_conversation(tr, make.tenant_id, conv)
    )
    assert page.items == sorted(msgs, key=lambda m: m.created_at) and page.next is None


async def test_list_by_conversation_honours_offset_limit_and_continuation(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = uuid4()
    msgs = [make.message(conv, created_at=at(minutes=m)) for m in range(10)]
    await create_all(store, repos, msgs)
    t = make.tenant_id

    async def page(offset: int, limit: int, after: str | None = None) -> Page[Message]:
        return await store.transact(
            lambda tr: repos.messages.list_by_conversation(tr, t, conv, offset, limit, after)
        )

    middle = await page(3, 4)
    assert middle.items == msgs[3:7] and middle.next is not None
    rest = await page(0, 100, middle.next)
    assert rest.items == msgs[7:] and rest.next is None
    assert (await page(10, 5)).items == []
    assert (await page(8, 5)).items == msgs[8:]
    walked = await walk(
        store, lambda tr, after: repos.messages.list_by_conversation(tr, t, conv, 0, 3, after)
    )
    assert walked == msgs


async def test_an_offset_past_the_largest_page_still_finds_the_later_messages(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = uuid4()
    msgs = [make.message(conv, created_at=at(minutes=m)) for m in range(1005)]
    await create_all(store, repos, msgs)
    page = await store.transact(
        lambda tr: repos.messages.list_by_conversation(tr, make.tenant_id, conv, 1000, 10)
    )
    assert page.items == msgs[1000:]


async def test_delete_removes_the_message_and_takes_its_share_off_the_counters(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = uuid4()
    keep, drop = make.message(conv, token_count=10), make.message(conv, token_count=25)
    await create_all(store, repos, [keep, drop])
    t = make.tenant_id
    assert await store.transact(lambda tr: repos.messages.delete(tr, t, drop.id))
    assert not await store.transact(lambda tr: repos.messages.delete(tr, t, drop.id))
    assert await store.transact(lambda tr: repos.messages.get_by_id(tr, t, drop.id)) is None
    listed = await store.transact(lambda tr: repos.messages.list_by_conversation(tr, t, conv))
    assert listed.items == [keep]
    assert await counts(store, repos, t, conv) == (1, 10)


async def test_count_tokens_reads_the_counter_not_the_messages(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = uuid4()
    await create_all(store, repos, [make.message(conv, token_count=n) for n in range(1, 51)])

    def counted(tr: Transaction) -> tuple[int, int]:
        proxy = CountingTransaction(tr)
        return repos.messages.count_tokens(proxy, make.tenant_id, conv), proxy.keys_read

    tokens, keys_read = await store.transact(counted)
    assert tokens == sum(range(1, 51))
    assert keys_read <= 2  # the two counter keys, never the 50 messages


async def test_a_350_kb_message_is_stored_in_chunks_and_read_back_intact(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    content = ("ünïcode ✓ " * 40_000)[:350_000]  # multi-byte characters across chunk borders
    msg = make.message(uuid4(), content=content, role="assistant")
    await store.transact(lambda tr: repos.messages.create(tr, msg))
    prefix = repos.keys.tenant(make.tenant_id).messages
    chunks = await store.transact(lambda tr: tr.get_range(*prefix.range(msg.id)))
    assert len(chunks) >= 4 and all(len(v) <= 100_000 for _, v in chunks)
    got = await store.transact(lambda tr: repos.messages.get_by_id(tr, make.tenant_id, msg.id))
    assert got is not None and got.content == content and got == msg
    await store.transact(lambda tr: repos.messages.delete(tr, make.tenant_id, msg.id))
    assert await store.transact(lambda tr: tr.get_range(*prefix.range(msg.id))) == []
