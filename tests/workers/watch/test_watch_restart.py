"""The baseline: a restart publishes only what changed while the watcher was down, and a file
that changes while it is read is read again."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import eventually
from tests.workers.watch.watch_support import file_id, same_trees, store_tree, target, watching
from workers.config import Config
from workers.watch import hashing


async def test_a_restart_publishes_only_what_changed_meanwhile_and_nothing_twice(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "project"
    root.mkdir()
    for i in range(20):
        (root / f"f{i}.txt").write_text(f"v1 {i}")
    t = target(root)
    async with watching(settings, t) as running:
        await same_trees(worker, running, t, "the first run")
        assert running.watcher.publisher.published == 20
    moved_id = await file_id(worker, t, "f1.txt")

    # while it is down: an edit, a delete, a rename, a new file
    (root / "f0.txt").write_text("v2 0")
    (root / "f2.txt").unlink()
    os.rename(root / "f1.txt", root / "renamed.txt")
    (root / "new.txt").write_text("new")
    async with watching(settings, t) as running:
        await same_trees(worker, running, t, "the restart's catch-up")
        assert running.watcher.publisher.published == 4
        assert running.watcher.publisher.duplicates == 0
        assert await file_id(worker, t, "renamed.txt") == moved_id  # a rename, not new

    async with watching(settings, t) as running:  # nothing changed: nothing published
        await running.stopped()
        assert running.watcher.publisher.published == 0
        assert "scanned 20 files, hashed 0" in running.progress.getvalue()


async def test_a_file_changed_while_it_is_read_is_read_again(
    settings: Config, start_worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "w"
    root.mkdir()
    log = root / "growing.log"
    log.write_bytes(b"first part\n" * 1000)
    real = hashlib.file_digest
    writes = []

    def digest_while_written(f, name):  # type: ignore[no-untyped-def]
        result = real(f, name)
        if not writes:  # a writer appends while the first read is under way
            writes.append(1)
            with open(log, "ab") as w:
                w.write(b"second part\n")
        return result

    monkeypatch.setattr(hashing.hashlib, "file_digest", digest_while_written)
    t = target(root)
    async with watching(settings, t) as running:
        await same_trees(worker, running, t, "the file's final content")
        assert writes
        assert running.watcher.publisher.published == 1  # never the half-read content


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_a_git_checkout_of_thousands_of_files_reaches_the_store(
    settings: Config, start_worker, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "repo"
    root.mkdir()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=root,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "one")
    for i in range(2000):
        d = root / f"pkg{i % 20}"
        d.mkdir(exist_ok=True)
        (d / f"m{i}.py").write_text(f"# one {i}\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    git("checkout", "-q", "-b", "two")
    for i in range(0, 2000, 2):
        (root / f"pkg{i % 20}" / f"m{i}.py").write_text(f"# two {i}\n")
    for i in range(1, 2000, 4):
        (root / f"pkg{i % 20}" / f"m{i}.py").unlink()
    (root / "pkg0" / "new.py").write_text("# only on two\n")
    git("add", "-A")
    git("commit", "-q", "-m", "two")
    t = target(root)
    async with watching(settings, t) as running:
        await same_trees(worker, running, t, "branch two")
        git("checkout", "-q", "one")
        await same_trees(worker, running, t, "branch one after the checkout")
        assert len(await store_tree(worker, t)) == 2000


async def test_changes_made_while_nats_is_down_are_published_once_it_is_back(
    settings: Config, start_worker, nats_server, tmp_path: Path
) -> None:
    worker = await start_worker(settings)
    root = tmp_path / "w"
    root.mkdir()
    (root / "before.txt").write_text("before the outage")
    t = target(root)
    async with watching(settings, t) as running:
        await same_trees(worker, running, t, "the first scan")
        await asyncio.to_thread(nats_server.stop)
        (root / "during.txt").write_text("written while NATS is down")
        (root / "before.txt").unlink()
        await eventually(
            lambda: running.watcher.publisher.retries > 0,
            what="the watcher to retry against the stopped server",
        )
        await asyncio.to_thread(nats_server.start)
        await same_trees(worker, running, t, "the catch-up after the outage")
        assert running.watcher.publisher.duplicates == 0
