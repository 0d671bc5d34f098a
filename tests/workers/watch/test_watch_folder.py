"""A real folder, a real watcher, a real nats-server and worker: after what editors, `mv`,
`rm -r` and bursts do to a folder, the session's live files in the store are the folder's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import eventually
from tests.workers.watch.watch_support import file_id, same_trees, store_tree, target, watching
from workers.config import Config


async def test_what_editors_and_the_shell_do_ends_in_the_store_as_in_the_folder(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("x = 1\n")
    t = target(root)
    async with watching(settings, t) as running:
        await same_trees(worker, running, t, "the first scan")
        a_id = await file_id(worker, t, "src/a.py")
        assert a_id is not None

        with open(root / "src" / "a.py", "a") as f:  # an in-place write
            f.write("y = 2\n")
        await same_trees(worker, running, t, "an in-place edit")
        assert await file_id(worker, t, "src/a.py") == a_id

        tmp = root / "src" / ".a.py.tmp1234"  # an atomic save: temp file renamed over
        tmp.write_text("x = 3\n")
        os.replace(tmp, root / "src" / "a.py")
        await same_trees(worker, running, t, "an atomic save")
        assert await file_id(worker, t, "src/a.py") == a_id

        os.rename(root / "src" / "a.py", root / "src" / "b.py")  # mv of a file
        await same_trees(worker, running, t, "a rename")
        assert await file_id(worker, t, "src/b.py") == a_id

        (root / "src" / "pkg").mkdir()
        for i in range(5):
            (root / "src" / "pkg" / f"m{i}.py").write_text(f"n = {i}\n")
        await same_trees(worker, running, t, "a new folder")
        ids = {i: await file_id(worker, t, f"src/pkg/m{i}.py") for i in range(5)}

        os.rename(root / "src" / "pkg", root / "lib")  # mv of a folder
        await same_trees(worker, running, t, "a folder moved")
        assert {i: await file_id(worker, t, f"lib/m{i}.py") for i in range(5)} == ids

        (root / "src" / "b.py").unlink()
        await same_trees(worker, running, t, "a delete")
        shutil.rmtree(root / "lib")  # rm -r
        await same_trees(worker, running, t, "rm -r")
        assert await store_tree(worker, t) == {}


async def test_a_burst_of_a_thousand_files_reaches_the_store(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "burst"
    root.mkdir()
    t = target(root)
    async with watching(settings, t) as running:
        for i in range(1000):
            d = root / f"d{i % 10}"
            d.mkdir(exist_ok=True)
            (d / f"f{i}.txt").write_bytes(os.urandom(64) + str(i).encode())
        await same_trees(worker, running, t, "1,000 files")
        assert len(await store_tree(worker, t)) == 1000


async def test_ignored_folders_and_gitignored_files_never_reach_nats(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "repo"
    for d in (".git/objects", "node_modules/left-pad", "src/__pycache__", "build"):
        (root / d).mkdir(parents=True)
    (root / ".gitignore").write_text("build/\n*.log\n")
    t = target(root)
    async with watching(settings, t) as running:
        for rel in (
            ".git/objects/ab",
            "node_modules/left-pad/index.js",
            "src/__pycache__/a.cpython-311.pyc",
            "build/out.bin",
            "debug.log",
            "src/.a.py.swp",
            "src/a.py~",
            "src/a.py",
        ):
            (root / rel).write_text(rel)
        await same_trees(worker, running, t)
        await running.stopped()
        assert set(await store_tree(worker, t)) == {".gitignore", "src/a.py"}
        assert running.watcher.publisher.published == 2


async def test_ctrl_c_publishes_what_is_pending_before_it_exits(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "w"
    root.mkdir()
    t = target(root)
    async with watching(settings, t) as running:
        (root / "late.txt").write_text("written just before Ctrl-C")
        await eventually(lambda: bool(running.watcher._due) or running.watcher.publisher.published)
        await running.stopped()
        assert running.watcher.publisher.published == 1
    await eventually(lambda: _has(worker, t, "late.txt"), what="late.txt in the store")


async def _has(worker, t, path: str) -> bool:  # type: ignore[no-untyped-def]
    return path in await store_tree(worker, t)


async def test_a_folder_moved_out_and_back_in_apart_keeps_its_files(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    """The kernel reports a move's two halves apart when the folder leaves the watched tree and
    comes back (or under load): its files are held as gone for the settle interval, and the
    look that finds them again pairs them, so they keep their ids (no delete + create)."""
    worker = await start_worker(settings)
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    for i in range(3):
        (root / "pkg" / f"m{i}.py").write_text(f"n = {i}\n")
    t = target(root)
    slow = settings.model_copy(update={"watch_settle_s": 2.0})
    async with watching(slow, t) as running:
        await same_trees(worker, running, t, "the first scan")
        ids = {i: await file_id(worker, t, f"pkg/m{i}.py") for i in range(3)}
        os.rename(root / "pkg", tmp_path / "elsewhere")  # out of the watched tree: a delete
        await eventually(
            lambda: len(running.watcher._vanishing) == 3, what="the files held as gone"
        )
        os.rename(tmp_path / "elsewhere", root / "lib")  # back in: a create
        await same_trees(worker, running, t, "the folder back under another name")
        assert {i: await file_id(worker, t, f"lib/m{i}.py") for i in range(3)} == ids
