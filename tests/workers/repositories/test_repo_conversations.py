"""ConversationRepository: records, by-user and by-session indexes, counters filled in on read."""

from __future__ import annotations

from uuid import UUID, uuid4

from repo_helpers import Make, walk

from workers.records import Conversation, ConversationStatus
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.sqlite import SqliteStore


async def test_created_conversation_reads_back_by_id_and_a_second_create_is_refused(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = make.conversation(title="auth refactor", tags=["python"])
    assert await store.transact(lambda tr: repos.conversations.create(tr, conv))
    again = conv.model_copy(update={"title": "overwritten?"})
    assert not await store.transact(lambda tr: repos.conversations.create(tr, again))
    got = await store.transact(
        lambda tr: repos.conversations.get_by_id(tr, make.tenant_id, conv.id)
    )
    assert got == conv


async def test_missing_conversation_reads_as_none(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    assert (
        await store.transact(lambda tr: repos.conversations.get_by_id(tr, tenant, uuid4())) is None
    )


async def test_conversations_are_found_by_session(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    other_session = uuid4()
    mine = [make.conversation() for _ in range(3)]
    theirs = make.conversation(workspace_session_id=other_session)
    for c in [*mine, theirs]:
        await store.transact(lambda tr, c=c: repos.conversations.create(tr, c))
    page = await store.transact(
        lambda tr: repos.conversations.get_by_session(tr, make.tenant_id, make.session_id)
    )
    assert page.items == sorted(mine, key=lambda c: c.id) and page.next is None


async def test_list_by_user_pages_with_a_limit_and_a_continuation(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    convs = [make.conversation() for _ in range(7)]
    await store.transact(lambda tr: [repos.conversations.create(tr, c) for c in convs])
    await store.transact(
        lambda tr: repos.conversations.create(tr, make.conversation(user_id=uuid4()))
    )
    tenant, user = make.tenant_id, make.user_id
    first = await store.transact(lambda tr: repos.conversations.list_by_user(tr, tenant, user, 3))
    assert len(first.items) == 3 and first.next is not None
    everything = await walk(
        store, lambda tr, after: repos.conversations.list_by_user(tr, tenant, user, 3, after)
    )
    assert everything[:3] == first.items
    assert everything == sorted(convs, key=lambda c: c.id)


async def test_an_exact_final_page_has_no_continuation(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    convs = [make.conversation() for _ in range(4)]
    await store.transact(lambda tr: [repos.conversations.create(tr, c) for c in convs])
    page = await store.transact(
        lambda tr: repos.conversations.list_by_user(tr, make.tenant_id, make.user_id, 4)
    )
    assert len(page.items) == 4 and page.next is None


async def test_update_moves_index_entries_when_user_and_session_change(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = make.conversation()
    await store.transact(lambda tr: repos.conversations.create(tr, conv))
    new_user, new_session = uuid4(), uuid4()
    moved = conv.model_copy(
        update={
            "user_id": new_user,
            "workspace_session_id": new_session,
            "status": ConversationStatus.ARCHIVED,
        }
    )
    assert await store.transact(lambda tr: repos.conversations.update(tr, moved))
    t = make.tenant_id

    async def by_user(user: UUID) -> list[Conversation]:
        return (
            await store.transact(lambda tr: repos.conversations.list_by_user(tr, t, user))
        ).items

    async def by_session(session: UUID) -> list[Conversation]:
        page = await store.transact(lambda tr: repos.conversations.get_by_session(tr, t, session))
        return page.items

    assert await by_user(make.user_id) == [] and await by_session(make.session_id) == []
    assert await by_user(new_user) == [moved] and await by_session(new_session) == [moved]
    assert await store.transact(lambda tr: repos.conversations.get_by_id(tr, t, conv.id)) == moved


async def test_update_to_no_user_drops_the_user_index_entry(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = make.conversation()
    await store.transact(lambda tr: repos.conversations.create(tr, conv))
    anonymous = conv.model_copy(update={"user_id": None})
    await store.transact(lambda tr: repos.conversations.update(tr, anonymous))
    page = await store.transact(
        lambda tr: repos.conversations.list_by_user(tr, make.tenant_id, make.user_id)
    )
    assert page.items == []


async def test_update_of_a_missing_conversation_changes_nothing(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    ghost = make.conversation()
    assert not await store.transact(lambda tr: repos.conversations.update(tr, ghost))
    page = await store.transact(
        lambda tr: repos.conversations.list_by_user(tr, make.tenant_id, make.user_id)
    )
    assert page.items == []


async def test_delete_removes_the_record_and_its_index_entries(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = make.conversation()
    await store.transact(lambda tr: repos.conversations.create(tr, conv))
    t = make.tenant_id
    assert await store.transact(lambda tr: repos.conversations.delete(tr, t, conv.id))
    assert not await store.transact(lambda tr: repos.conversations.delete(tr, t, conv.id))
    assert await store.transact(lambda tr: repos.conversations.get_by_id(tr, t, conv.id)) is None
    by_user = await store.transact(lambda tr: repos.conversations.list_by_user(tr, t, make.user_id))
    by_session = await store.transact(
        lambda tr: repos.conversations.get_by_session(tr, t, make.session_id)
    )
    assert by_user.items == [] and by_session.items == []


async def test_counters_follow_the_messages_that_outlive_their_conversation(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = make.conversation()
    first, second = make.message(conv.id, token_count=4), make.message(conv.id, token_count=6)
    await store.transact(lambda tr: repos.conversations.create(tr, conv))
    await store.transact(lambda tr: repos.messages.create_many(tr, [first, second]))
    t = make.tenant_id
    await store.transact(lambda tr: repos.conversations.delete(tr, t, conv.id))
    await store.transact(lambda tr: repos.messages.delete(tr, t, first.id))
    assert await store.transact(lambda tr: repos.conversations.counts(tr, t, conv.id)) == (1, 6)
    await store.transact(lambda tr: repos.conversations.create(tr, conv))
    again = await store.transact(lambda tr: repos.conversations.get_by_id(tr, t, conv.id))
    assert again is not None and (again.message_count, again.token_count) == (1, 6)


async def test_reads_fill_in_message_and_token_counts_from_the_counters(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    conv = make.conversation()
    await store.transact(lambda tr: repos.conversations.create(tr, conv))
    for tokens in (5, 7, 11):
        msg = make.message(conv.id, token_count=tokens)
        await store.transact(lambda tr, m=msg: repos.messages.create(tr, m))
    t = make.tenant_id
    got = await store.transact(lambda tr: repos.conversations.get_by_id(tr, t, conv.id))
    listed = await store.transact(lambda tr: repos.conversations.list_by_tenant(tr, t))
    assert got is not None and (got.message_count, got.token_count) == (3, 23)
    assert listed.items == [got]


async def test_merge_many_folds_with_one_read_and_writes_only_changes(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    t = make.tenant_id
    known, new = make.conversation(), make.conversation(user_id=uuid4())
    await store.transact(lambda tr: repos.conversations.create(tr, known))
    seen: list[Conversation | None] = []

    def keep(current: Conversation | None) -> Conversation:
        seen.append(current)
        assert current is not None
        return current  # the same object: nothing is written

    def start(current: Conversation | None) -> Conversation:
        seen.append(current)
        return new

    await store.transact(
        lambda tr: repos.conversations.merge_many(tr, [(t, known.id, keep), (t, new.id, start)])
    )
    assert seen == [known, None]
    mine = await store.read(lambda tr: repos.conversations.list_by_user(tr, t, new.user_id))
    assert mine.items == [new]
    assert (await check(store, repos)).clean
