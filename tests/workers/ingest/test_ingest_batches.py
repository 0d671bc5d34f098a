"""The batch core without NATS: big batches are prepared off the lock, oversized ones sliced."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import store_url
from tests.workers.ingest.events_factory import dumps, later, message_sent
from workers.ingest import ingestor as ingest
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome
from workers.repositories import Repositories
from workers.store import open_store
from workers.store.keys import Keys


@pytest.fixture
async def ingestor(tmp_path: Path, key_root: str) -> AsyncIterator[Ingestor]:
    store = open_store(store_url(tmp_path / "batches.db"))  # TEST_STORE_URL: make test-fdb
    yield Ingestor(store, Repositories(Keys((key_root,))))
    await store.close()


def batch(tenant: uuid.UUID, conv: uuid.UUID, n: int, content: str = "hi") -> list[Incoming]:
    bodies = [message_sent(tenant, conv, tokens=2, content=content, at=later(i)) for i in range(n)]
    return [Incoming("message.sent", dumps(b)) for b in bodies]


async def test_a_batch_past_the_slice_size_commits_in_order_in_several_transactions(
    ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    events = batch(tenant, conv, 6, content="x" * 400)
    size = len(events[0].data)
    monkeypatch.setattr(ingest, "SLICE_BYTES", 2 * size)  # two events a transaction
    store = ingestor.store
    before = store.commits  # type: ignore[attr-defined]
    results = await ingestor.apply(events + events[:1])  # the last one: a redelivery
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 6 + [Outcome.DUPLICATE]
    assert store.commits - before == 4  # type: ignore[attr-defined]  # 2 + 2 + 2 + the duplicate's own slice
    counts = await store.read(lambda tr: ingestor.repos.conversations.counts(tr, tenant, conv))
    assert counts == (6, 12)


async def test_a_big_batch_is_prepared_and_ends_like_small_ones(ingestor: Ingestor) -> None:
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    big = batch(tenant, conv, ingest.PREPARE_FROM + 50)
    results = await ingestor.apply(big + big[:10])  # redeliveries inside the same batch
    assert [r.outcome for r in results].count(Outcome.APPLIED) == len(big)
    again = await ingestor.apply(big)  # and a whole batch delivered twice
    assert {r.outcome for r in again} == {Outcome.DUPLICATE}
    counts = await ingestor.store.read(
        lambda tr: ingestor.repos.conversations.counts(tr, tenant, conv)
    )
    assert counts == (len(big), 2 * len(big))
