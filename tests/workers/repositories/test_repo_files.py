"""FileRepository: by-session and by-path indexes, soft delete and restore, the purge queue."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from repo_helpers import Make, at, walk

from workers.errors import PathOccupied
from workers.ids import to_ms
from workers.records import File, FileStep, version_of
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore


async def create_all(store: SqliteStore, repos: Repositories, files: list[File]) -> None:
    await store.transact(lambda tr: [repos.files.create(tr, f) for f in files])


async def by_path(
    store: SqliteStore, repos: Repositories, make: Make, path: str, include_deleted: bool = False
) -> File | None:
    return await store.transact(
        lambda tr: repos.files.get_by_path(
            tr, make.tenant_id, make.session_id, path, include_deleted
        )
    )


async def test_created_file_reads_back_by_id_and_path_and_a_second_create_is_refused(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    file = make.file(file_size=120, mime_type="text/x-python")
    assert await store.transact(lambda tr: repos.files.create(tr, file))
    assert not await store.transact(lambda tr: repos.files.create(tr, file))
    assert (
        await store.transact(lambda tr: repos.files.get_by_id(tr, make.tenant_id, file.id)) == file
    )
    assert await by_path(store, repos, make, file.file_path) == file


async def test_unknown_paths_and_ids_read_as_none(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    await create_all(store, repos, [make.file()])
    assert await by_path(store, repos, make, "nowhere.py") is None
    other_session = await store.transact(
        lambda tr: repos.files.get_by_path(tr, make.tenant_id, uuid4(), "src/main.py")
    )
    assert other_session is None
    assert (
        await store.transact(lambda tr: repos.files.get_by_id(tr, make.tenant_id, uuid4())) is None
    )


async def test_list_by_session_hides_soft_deleted_files_unless_asked(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(5)]
    await create_all(store, repos, [*files, make.file(workspace_session_id=uuid4())])
    gone = await store.transact(
        lambda tr: repos.files.soft_delete(tr, make.tenant_id, files[1].id, at(minutes=5))
    )
    assert gone is not None
    t, s = make.tenant_id, make.session_id
    visible = await walk(
        store, lambda tr, after: repos.files.list_by_session(tr, t, s, limit=2, after=after)
    )
    everything = await walk(
        store, lambda tr, after: repos.files.list_by_session(tr, t, s, True, 2, after)
    )
    by_id = sorted([*files[:1], gone, *files[2:]], key=lambda f: f.id)
    assert everything == by_id
    assert visible == [f for f in by_id if f.id != gone.id]


async def test_rename_moves_the_path_entry(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    file = make.file(file_path="old/name.py")
    await create_all(store, repos, [file])
    renamed = file.model_copy(update={"file_path": "new/name.py", "updated_at": at(1)})
    assert await store.transact(lambda tr: repos.files.update(tr, renamed))
    assert await by_path(store, repos, make, "old/name.py", include_deleted=True) is None
    assert await by_path(store, repos, make, "new/name.py") == renamed


async def test_update_of_a_missing_file_changes_nothing(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    ghost = make.file()
    assert not await store.transact(lambda tr: repos.files.update(tr, ghost))
    assert await by_path(store, repos, make, ghost.file_path, include_deleted=True) is None


def restore(
    tr: Transaction, repos: Repositories, tenant: UUID, file_id: UUID, to: str | None = None
) -> File | None:
    return repos.files.restore(tr, tenant, file_id, at=at(30), step_id=uuid4(), to=to)


async def test_soft_delete_keeps_the_record_restorable_and_restore_brings_it_back(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    file = make.file(checksum="c" * 64)
    await create_all(store, repos, [file])
    t = make.tenant_id
    deleted = await store.transact(lambda tr: repos.files.soft_delete(tr, t, file.id, at(10)))
    assert deleted is not None and deleted.is_deleted and deleted.deleted_at == at(10)
    assert await by_path(store, repos, make, file.file_path) is None
    assert await by_path(store, repos, make, file.file_path, include_deleted=True) == deleted
    again = await store.transact(lambda tr: repos.files.soft_delete(tr, t, file.id, at(20)))
    assert again == deleted  # deleting twice keeps the first deletion time
    restored = await store.transact(lambda tr: restore(tr, repos, t, file.id))
    assert restored is not None and not restored.is_deleted and restored.deleted_at is None
    assert restored.checksum == "c" * 64
    assert await by_path(store, repos, make, file.file_path) == restored
    assert await store.transact(lambda tr: restore(tr, repos, t, file.id)) == restored


async def test_a_restore_onto_a_live_path_is_refused_and_to_names_another_path(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    gone, occupant = make.file(checksum="c" * 64), make.file(checksum="d" * 64)
    occupant = occupant.model_copy(update={"file_path": gone.file_path})
    t = make.tenant_id

    def setup(tr: Transaction) -> None:
        repos.files.create(tr, gone)
        repos.files.soft_delete(tr, t, gone.id, at(10))
        repos.files.create(tr, occupant)

    await store.transact(setup)
    with pytest.raises(PathOccupied, match=f"{occupant.id} is live there.*--to PATH"):
        await store.transact(lambda tr: restore(tr, repos, t, gone.id))
    assert await by_path(store, repos, make, gone.file_path) == occupant
    moved = await store.transact(lambda tr: restore(tr, repos, t, gone.id, to="elsewhere.py"))
    assert moved is not None and (moved.file_path, moved.is_deleted) == ("elsewhere.py", False)
    assert moved.checksum == "c" * 64
    assert await by_path(store, repos, make, "elsewhere.py") == moved
    assert await by_path(store, repos, make, gone.file_path) == occupant
    assert (await check(store, repos)).problems == []


async def test_soft_delete_and_restore_of_a_missing_file_return_none(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    assert await store.transact(lambda tr: repos.files.soft_delete(tr, tenant, uuid4())) is None
    assert await store.transact(lambda tr: restore(tr, repos, tenant, uuid4())) is None


async def test_cleanup_purges_only_files_deleted_before_the_cutoff(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(8)]
    await create_all(store, repos, files)
    t = make.tenant_id
    for i, f in enumerate(files[:6]):  # deleted on days 0..5; 6 and 7 stay live
        await store.transact(lambda tr, f=f, d=i: repos.files.soft_delete(tr, t, f.id, at(days=d)))
    result = await repos.files.cleanup_deleted(store, t, days=7, now=at(days=10), batch=2)
    assert (result.removed, result.kept) == (3, 0)  # days 0, 1, 2 are more than 7 days old
    assert result.batches >= 2
    left = await walk(
        store,
        lambda tr, after: repos.files.list_by_session(tr, t, make.session_id, True, 100, after),
    )
    assert sorted(f.id for f in left) == sorted(f.id for f in files[3:])
    for f in files[:3]:
        assert await by_path(store, repos, make, f.file_path, include_deleted=True) is None


async def test_cleanup_spares_files_that_keep_holds(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(4)]
    await create_all(store, repos, files)
    t = make.tenant_id
    for f in files:
        await store.transact(lambda tr, f=f: repos.files.soft_delete(tr, t, f.id, at(0)))
    held = {files[0].id, files[3].id}
    result = await repos.files.cleanup_deleted(
        store, t, days=1, now=at(days=5), keep=lambda f: f.id in held
    )
    assert (result.removed, result.kept) == (2, 2)
    for f in files:
        got = await store.transact(lambda tr, f=f: repos.files.get_by_id(tr, t, f.id))
        assert (got is not None) == (f.id in held)


async def test_apply_reports_each_steps_fate_and_a_step_older_than_the_compaction_is_too_late(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    t = make.tenant_id

    def step(change: str, minute: float, checksum: str | None = None) -> FileStep:
        event = uuid4()
        return FileStep(
            tenant_id=t,
            workspace_session_id=make.session_id,
            version=version_of(at(minute), event),
            change=change,
            file_path="a.py",
            event_id=event,
            occurred_at=at(minute),
            checksum=checksum,
        )

    created, modified = step("created", 0, "a" * 64), step("modified", 10, "b" * 64)
    fates = await store.transact(
        lambda tr: repos.files.apply_many(tr, [created, modified, created])
    )
    assert fates == ["applied", "applied", "duplicate"]
    late = step("modified", 5, "c" * 64)  # older than the newest: re-folded, and loses
    assert await store.transact(lambda tr: repos.files.apply(tr, late)) == "applied"

    removed, _, _ = await store.transact(
        lambda tr: repos.files.history.compact_batch(tr, t, to_ms(at(7)), 10)
    )
    assert removed == 1  # the created; the late modify stays: the state the rest folds from
    too_late = step("deleted", 6)
    assert await store.transact(lambda tr: repos.files.apply(tr, too_late)) == "too late"
    live = await by_path(store, repos, make, "a.py")
    assert live is not None and (live.checksum, live.is_deleted) == ("b" * 64, False)
    assert (await check(store, repos)).problems == []
