"""Cleanups run in short, bounded batches and cost what expired, not what the tenant holds.

`CountingStore` hands each batch a transaction proxy that counts the keys it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import uuid4

import pytest
from repo_helpers import CountingStore, Make, at

from workers.ids import to_ms
from workers.records import Audit, File
from workers.repositories import CleanupResult, Repositories
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

DAY = 24 * 60


async def write_audits(store: SqliteStore, repos: Repositories, audits: list[Audit]) -> None:
    for i in range(0, len(audits), 500):
        chunk = audits[i : i + 500]
        await store.transact(lambda tr, c=chunk: repos.audit.create_many(tr, c))


async def write_files(
    store: SqliteStore, repos: Repositories, files: list[File], deleted_days: list[float | None]
) -> None:
    """Create files, soft-deleting each on the day given (None: never)."""
    pairs = list(zip(files, deleted_days, strict=True))
    for i in range(0, len(pairs), 500):
        chunk = pairs[i : i + 500]

        def write(tr: Transaction, chunk: list[tuple[File, float | None]] = chunk) -> None:
            for f, day in chunk:
                repos.files.create(tr, f)
                if day is not None:
                    repos.files.soft_delete(tr, f.tenant_id, f.id, at(days=day))

        await store.transact(write)


async def test_audit_cleanup_of_500_expired_runs_in_at_least_ten_bounded_batches(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    await write_audits(store, repos, [make.audit(occurred_at=at(i)) for i in range(500)])
    counting = CountingStore(store)
    result = await repos.audit.cleanup_old_events(counting, make.tenant_id, 1, at(days=3), batch=50)
    assert result.removed == 500 and result.batches >= 10
    for tr in counting.transactions:
        assert all(0 < limit <= 50 for _, _, limit in tr.range_reads)  # never an unbounded scan
        assert tr.keys_read <= 2 * 50  # 50 index entries, then their 50 records
    left = await store.transact(lambda tr: repos.audit.list_by_date(tr, make.tenant_id))
    assert left.items == []


async def test_file_purge_of_500_expired_runs_in_at_least_ten_bounded_batches(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(500)]
    await write_files(store, repos, files, [0.0] * 500)
    counting = CountingStore(store)
    result = await repos.files.cleanup_deleted(counting, make.tenant_id, 1, at(days=3), batch=50)
    assert result.removed == 500 and result.batches >= 10
    for tr in counting.transactions:
        assert all(0 < limit <= 50 for _, _, limit in tr.range_reads)
        assert tr.keys_read <= 2 * 50
    left = await store.transact(
        lambda tr: repos.files.list_by_session(tr, make.tenant_id, make.session_id, True)
    )
    assert left.items == []


async def test_audit_cleanup_reads_what_expired_not_the_whole_trail(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    expired = [make.audit(occurred_at=at(days=-100, minutes=i)) for i in range(10)]
    live = [make.audit(occurred_at=at(i)) for i in range(2000)]
    await write_audits(store, repos, expired + live)
    counting = CountingStore(store)
    result = await repos.audit.cleanup_old_events(counting, make.tenant_id, 30, now=at(days=1))
    assert result.removed == 10
    assert counting.keys_read <= 3 * len(expired)  # O(expired); 2,000 live records untouched
    remaining = await store.transact(
        lambda tr: repos.audit.list_by_date(tr, make.tenant_id, limit=1000)
    )
    assert len(remaining.items) == 1000 and remaining.next is not None


async def test_file_purge_reads_what_expired_not_every_file(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(2010)]
    # 10 deleted long ago; 1,000 deleted recently (queued, not yet due); 1,000 never deleted
    days: list[float | None] = [-100.0] * 10 + [0.5] * 1000 + [None] * 1000
    await write_files(store, repos, files, days)
    counting = CountingStore(store)
    result = await repos.files.cleanup_deleted(counting, make.tenant_id, 30, now=at(days=1))
    assert result.removed == 10
    assert counting.keys_read <= 3 * 10
    for f in files[:10]:
        assert (
            await store.transact(lambda tr, f=f: repos.files.get_by_id(tr, f.tenant_id, f.id))
            is None
        )


# -- the one cleanup loop the jobs run too: dry run, checkpoint, replay ---------------------


@dataclass
class Recorder:
    """A checkpoint that writes a marker in each batch's transaction and notes the totals."""

    marker: bytes
    replay: tuple[CleanupResult, bool] | None = None
    ends: list[tuple[CleanupResult, bool]] = field(default_factory=list)

    def begin(self, tr: Transaction, so_far: CleanupResult) -> tuple[CleanupResult, bool] | None:
        return self.replay

    def end(self, tr: Transaction, so_far: CleanupResult, done: bool) -> None:
        tr.set(self.marker, str(so_far.batches).encode())
        self.ends.append((so_far, done))


async def test_a_checkpoint_runs_in_every_batch_transaction_with_the_running_totals(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    await write_audits(store, repos, [make.audit(occurred_at=at(i)) for i in range(5)])
    marker = repos.keys.tenant(make.tenant_id).cursors.key("test")
    recorder = Recorder(marker)
    seen: list[int] = []

    result = await repos.audit.cleanup_old_events(
        store,
        make.tenant_id,
        1,
        at(days=3),
        batch=2,
        checkpoint=recorder,
        on_batch=lambda r: seen.append(r.removed),
    )

    assert [(r.removed, r.batches, done) for r, done in recorder.ends] == [
        (2, 1, False),
        (4, 2, False),
        (5, 3, True),
    ]
    assert seen == [2, 4, 5] and result == recorder.ends[-1][0]
    assert await store.read(lambda tr: tr.get(marker)) == b"3"  # committed with the last batch


async def test_a_batch_whose_twin_committed_is_adopted_instead_of_run_again(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    await write_audits(store, repos, [make.audit(occurred_at=at(i)) for i in range(3)])
    landed = CleanupResult(removed=3, kept=0, batches=1, elapsed_ms=9)
    recorder = Recorder(b"", replay=(landed, True))

    result = await repos.audit.cleanup_old_events(
        store, make.tenant_id, 1, at(days=3), checkpoint=recorder
    )

    assert result == landed and recorder.ends == []
    left = await store.read(lambda tr: repos.audit.list_by_date(tr, make.tenant_id))
    assert len(left.items) == 3  # the batch itself did not run


async def test_a_dry_run_counts_what_would_go_and_what_is_kept_and_writes_nothing(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    held_user = uuid4()
    audits = [make.audit(occurred_at=at(i)) for i in range(5)]
    audits += [make.audit(user_id=held_user, occurred_at=at(i)) for i in range(2)]
    await write_audits(store, repos, audits)
    files = [make.file(file_path=f"f{i}.py") for i in range(4)]
    await write_files(store, repos, files, [0.0, 0.0, 0.0, None])
    await store.transact(lambda tr: repos.applied.mark(tr, make.tenant_id, uuid4(), 0))
    before = await store.read(lambda tr: tr.get_range(*repos.keys.tenant_range(make.tenant_id)))
    t, now = make.tenant_id, at(days=3)

    audit = await repos.audit.cleanup_old_events(
        store, t, 1, now, 2, lambda a: a.user_id == held_user, dry_run=True
    )
    purge = await repos.files.cleanup_deleted(store, t, 1, now, 2, dry_run=True)
    marks = await repos.cleanup_past_horizon(store, t, 1, now, 2, dry_run=True)

    assert (audit.removed, audit.kept, audit.batches) == (5, 2, 4)
    assert (purge.removed, purge.kept) == (3, 0)
    assert marks.removed == 1
    after = await store.read(lambda tr: tr.get_range(*repos.keys.tenant_range(make.tenant_id)))
    assert after == before


async def test_a_dry_run_cannot_keep_a_checkpoint(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    with pytest.raises(ValueError, match="read-only"):
        await repos.audit.cleanup_old_events(
            store, make.tenant_id, 1, dry_run=True, checkpoint=Recorder(b"x")
        )


async def test_dedupe_marks_older_than_the_horizon_are_forgotten_in_batches(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    t, old, young = make.tenant_id, [uuid4() for _ in range(5)], uuid4()

    def mark(tr: Transaction) -> None:
        for e in old:
            repos.applied.mark(tr, t, e, to_ms(at(days=-10)))
        repos.applied.mark(tr, t, young, to_ms(at()))

    await store.transact(mark)

    result = await repos.cleanup_past_horizon(store, t, 2, now=at(), batch=2)

    # three batches of marks, then one each for the (absent) tombstones and file histories
    assert (result.removed, result.kept, result.batches) == (5, 0, 5)
    applied = await store.read(
        lambda tr: repos.applied.applied(tr, [(t, e) for e in [*old, young]])
    )
    assert applied == [False] * 5 + [True]
