"""Files that events made gone stay restorable until the purge, legal holds keep them, and the
dedupe job compacts file histories: a late event within the horizon still re-folds, one older
than the compacted history changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from jobs_support import FakeClock, assert_clean, days_ago

from tests.workers.ingest.events_factory import dumps, file_changed
from workers.config import Config
from workers.errors import PathOccupied
from workers.ids import derived_id
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome
from workers.jobs.controls import add_hold, remove_hold
from workers.jobs.executor import run_job
from workers.jobs.restore import restore_file
from workers.records import File
from workers.repositories import Repositories
from workers.store import Store
from workers.store.port import Transaction


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class Session:
    """One workspace session's file events, applied one per batch through the real ingestor."""

    def __init__(self, store: Store, repos: Repositories) -> None:
        self.ingestor = Ingestor(store, repos)
        self.store, self.repos = store, repos
        self.tenant, self.id = uuid4(), uuid4()

    async def event(
        self, change: str, path: str, at: datetime, content: bytes = b"", **extra: Any
    ) -> UUID:
        body = file_changed(self.tenant, self.id, change, path, content, at, **extra)
        [result] = await self.ingestor.apply([Incoming("file.changed", dumps(body))])
        assert result.outcome is Outcome.APPLIED, result
        return UUID(body["event_id"])

    async def files(self) -> list[File]:
        page = await self.store.transact(
            lambda tr: self.repos.files.list_by_session(tr, self.tenant, self.id, True, 100)
        )
        return sorted(page.items, key=lambda f: (f.file_path, f.is_deleted))

    async def at_path(self, path: str) -> File | None:
        return await self.store.transact(
            lambda tr: self.repos.files.get_by_path(tr, self.tenant, self.id, path)
        )


async def test_an_atomic_save_keeps_the_id_and_gone_files_stay_restorable_under_a_hold(
    store: Store, repos: Repositories, settings: Callable[..., Config], clock: FakeClock
) -> None:
    s = Session(store, repos)
    created = await s.event("created", "a.py", days_ago(41), b"v1")
    await s.event("created", "a.py.tmp~", days_ago(40.5), b"v2")
    await s.event("renamed", "a.py", days_ago(40), previous_path="a.py.tmp~")  # the save
    first = await s.event("created", "b.py", days_ago(41), b"b1")
    await s.event("deleted", "b.py", days_ago(40))
    await s.event("created", "b.py", days_ago(39), b"b2")  # a re-created path: a new file

    saved = await s.at_path("a.py")
    assert saved is not None and (saved.id, saved.checksum) == (
        derived_id(s.tenant, created),
        sha(b"v2"),
    )
    temp, earlier = [f for f in await s.files() if f.is_deleted]
    assert (temp.file_path, temp.checksum) == ("a.py.tmp~", sha(b"v2"))
    assert (earlier.id, earlier.file_path, earlier.checksum) == (
        derived_id(s.tenant, first),
        "b.py",
        sha(b"b1"),
    )

    await add_hold(store, repos, s.tenant, "session", s.id, "incident", clock=clock)
    summary = await run_job("files", store, repos, settings(), clock=clock)
    assert (summary.removed, summary.held) == (0, 2)  # both gone files outlive the period

    with pytest.raises(PathOccupied, match=r"b\.py"):
        await restore_file(store, repos, s.tenant, earlier.id, clock=clock)
    back = await restore_file(store, repos, s.tenant, earlier.id, clock=clock, to="b.old.py")
    assert back is not None and (back.file_path, back.checksum) == ("b.old.py", sha(b"b1"))
    live = await s.at_path("b.py")
    assert live is not None and live.checksum == sha(b"b2")  # untouched by the restore

    assert await remove_hold(store, repos, s.tenant, "session", s.id)
    summary = await run_job("files", store, repos, settings(), clock=clock)
    assert (summary.removed, summary.held) == (1, 0)  # the temp file, gone 40 days ago
    assert await restore_file(store, repos, s.tenant, temp.id, clock=clock) is None
    await assert_clean(store, repos)


async def test_the_dedupe_job_compacts_file_histories_and_later_events_still_re_fold(
    store: Store, repos: Repositories, settings: Callable[..., Config], clock: FakeClock
) -> None:
    s = Session(store, repos)
    for days, version in ((20, b"v1"), (16, b"v2"), (10, b"v3"), (2, b"v5")):
        change = "created" if version == b"v1" else "modified"
        await s.event(change, "a.py", days_ago(days), version)
    await s.event("created", "quiet.py", days_ago(30), b"q")

    summary = await run_job("dedupe", store, repos, settings(), clock=clock)  # 14 days
    assert summary.removed == 2  # a.py at 20 days (16 stays: a.py has newer), quiet.py

    def contents(tr: Transaction, path: str) -> list[str | None]:
        kept = repos.files.history.since(tr, repos.keys.tenant(s.tenant), s.id, path, "")
        return [e.after.checksum if e.after else None for e in kept]

    kept = await store.transact(lambda tr: {p: contents(tr, p) for p in ("a.py", "quiet.py")})
    # a.py keeps the state at the horizon (v2) and what came after; quiet.py keeps nothing
    assert kept == {"a.py": [sha(b"v2"), sha(b"v3"), sha(b"v5")], "quiet.py": []}

    await s.event("modified", "a.py", days_ago(15), b"too late")  # audited, changes nothing
    await s.event("modified", "a.py", days_ago(5), b"v4")  # older than v5: re-folds, loses
    await s.event("deleted", "quiet.py", days_ago(1))  # the first step after compaction
    assert [(f.file_path, f.checksum, f.is_deleted) for f in await s.files()] == [
        ("a.py", sha(b"v5"), False),
        ("quiet.py", sha(b"q"), True),
    ]
    await s.event("modified", "a.py", days_ago(1), b"v6")
    newest = await s.at_path("a.py")
    assert newest is not None and newest.checksum == sha(b"v6")
    await assert_clean(store, repos)
