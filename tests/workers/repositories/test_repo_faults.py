"""Idempotency under 1021: every 10th commit lands, then reports failure, and `fn` runs again.

Repository creates check their record's id first, so the replays change nothing; a blind
`tr.add` under the same faults over-counts, which proves the commits really are replayed.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from repo_helpers import Make, at, walk

from events.audit_types import AuditEventType
from workers.records import Audit, File, Message
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.faults import FaultInjector
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

TRANSACTIONS = 330


@pytest.fixture
async def faulty(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, FaultInjector]]:
    faults = FaultInjector(every_nth_1021=10)
    engine = SqliteStore(tmp_path / "faulty.db", faults=faults)
    yield engine, faults
    await engine.close()


def unit_of_work(
    repos: Repositories, message: Message, audit: Audit, file: File | None
) -> Callable[[Transaction], None]:
    """What one worker transaction does: marker-checked creates, counters by atomic add."""

    def fn(tr: Transaction) -> None:
        repos.messages.create(tr, message)
        repos.audit.create(tr, audit)
        if file is not None:
            repos.files.create(tr, file)
        repos.tenants.mark_seen(tr, message.tenant_id)

    return fn


async def test_marker_checked_creates_end_with_exact_counts_under_replayed_commits(
    faulty: tuple[SqliteStore, FaultInjector], repos: Repositories, make: Make
) -> None:
    store, faults = faulty
    rng = random.Random(7)
    conversations = [uuid4() for _ in range(3)]
    expected: dict[UUID, tuple[int, int]] = {c: (0, 0) for c in conversations}
    files = 0
    for i in range(TRANSACTIONS):
        # ids are made outside the retry loop, as the workers make them
        conv, tokens = rng.choice(conversations), rng.randint(0, 500)
        message = make.message(conv, token_count=tokens, created_at=at(i))
        audit = make.audit(event_type=AuditEventType.MESSAGE_SENT, occurred_at=at(i))
        file = make.file(file_path=f"f{i}.py") if i % 3 == 0 else None
        await store.transact(unit_of_work(repos, message, audit, file))
        count, total = expected[conv]
        expected[conv] = (count + 1, total + tokens)
        files += file is not None

    assert faults.injected_1021 >= 30 and store.retries == faults.injected_1021
    t = make.tenant_id
    for conv, (count, tokens) in expected.items():
        assert await store.transact(lambda tr, c=conv: repos.conversations.counts(tr, t, c)) == (
            count,
            tokens,
        )
        listed = await walk(
            store,
            lambda tr, after, c=conv: repos.messages.list_by_conversation(tr, t, c, 0, 100, after),
        )
        assert len(listed) == count and sum(m.token_count for m in listed) == tokens
    audits = await walk(
        store,
        lambda tr, after: repos.audit.list_by_event(
            tr, t, AuditEventType.MESSAGE_SENT, limit=100, after=after
        ),
    )
    by_user = await walk(
        store,
        lambda tr, after: repos.audit.list_by_user(tr, t, make.user_id, limit=100, after=after),
    )
    assert len(audits) == len(by_user) == TRANSACTIONS
    stored_files = await walk(
        store,
        lambda tr, after: repos.files.list_by_session(tr, t, make.session_id, True, 100, after),
    )
    assert len(stored_files) == files
    report = await check(store, repos)
    assert report.clean, report.problems
    assert report.tenants == 1


async def test_a_blind_add_without_a_marker_over_counts_under_the_same_faults(
    faulty: tuple[SqliteStore, FaultInjector], repos: Repositories, tenant: UUID
) -> None:
    store, faults = faulty
    conv = uuid4()
    for _ in range(TRANSACTIONS):
        await store.transact(lambda tr: repos.conversations.add_counts(tr, tenant, conv, 1, 10))
    count, tokens = await store.transact(lambda tr: repos.conversations.counts(tr, tenant, conv))
    assert faults.injected_1021 >= 30
    assert count == TRANSACTIONS + faults.injected_1021  # every replayed commit counted again
    assert tokens == 10 * count
