"""`make bench-watch`: the file-monitor on a generated tree, next to `sha256sum`.

1. A tree of N files (default 10,000 of 100 KB: 1 GB) is written; `sha256sum` reads all of it
   (page cache warm), then the watcher's first scan reads and publishes all of it, then
   `sha256sum` again: the watcher's hashing MB/s is shown beside the median of the two.
2. A real worker (`python -m workers worker`, SQLite) drains the first scan's events.
3. A burst: N more small files are written as fast as Python can; the figure is the time
   from the first write to the store's live files of the session matching the folder.
Run it alone: on two cores anything else running is in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from workers.config import Config  # noqa: E402
from workers.nats.local_server import LocalNatsServer  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.service.wiring import repositories  # noqa: E402
from workers.store import open_store  # noqa: E402
from workers.watch.runner import WatchTarget, build_watcher, watch_until_stopped  # noqa: E402


def generate(root: Path, files: int, size: int) -> list[Path]:
    paths = []
    block = os.urandom(size)
    for i in range(files):
        d = root / f"dir{i % 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"file{i:06d}.bin"
        p.write_bytes(i.to_bytes(8, "big") + block[8:])
        paths.append(p)
    return paths


def sha256sum_seconds(paths: list[Path]) -> float:
    listing = b"\0".join(str(p).encode() for p in paths)
    started = time.perf_counter()
    subprocess.run(
        ["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL, check=True
    )
    return time.perf_counter() - started


async def live_files(settings: Config, t: WatchTarget) -> dict[str, str | None]:
    store, repos = open_store(settings.store_url), repositories(settings)
    out: dict[str, str | None] = {}
    after = None
    try:
        while True:
            page = await store.read(
                lambda tr, a=after: repos.files.list_by_session(
                    tr, t.tenant, t.session, False, 5000, a
                )
            )
            out |= {f.file_path: f.checksum for f in page.items}
            if page.next is None:
                return out
            after = page.next
    finally:
        await store.close()


def folder(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


async def until_store_matches(settings: Config, t: WatchTarget, want: int, deadline: float) -> None:
    while len(await live_files(settings, t)) < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"the store did not reach {want} files in time")
        await asyncio.sleep(0.2)
    got, expected = await live_files(settings, t), folder(t.root)
    if got != expected:
        raise SystemExit(f"the store differs from the folder: {len(got)} vs {len(expected)} files")


async def main(files: int, size: int, base: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-watch-", dir=base))
    server = LocalNatsServer(work / "nats")
    server.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        settings = Config(
            nats_url=server.url,
            store_url=f"sqlite:///{work / 'store.db'}",
            data_dir=work / "data",
            _env_file=None,  # type: ignore[call-arg]
        )
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), settings)
        await nc.close()
        tree = work / "tree"
        print(f"writing {files:,} files of {size // 1000:,} KB ...", flush=True)
        paths = generate(tree, files, size)
        total_mb = files * size / 1e6
        sums = [sha256sum_seconds(paths)]

        t = WatchTarget(tree, uuid.uuid4(), uuid.uuid4())
        watcher = build_watcher(settings, t)
        stop, ready = asyncio.Event(), asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(watch_until_stopped(watcher, stop, ready.set))
        await ready.wait()
        scan_s = time.perf_counter() - started
        progress = watcher.progress
        hashed, hash_rate = progress.hashed, progress.hashed_bytes / 1e6 / progress.hash_seconds
        published = progress.published
        sums.append(sha256sum_seconds(paths))
        sum_rate = total_mb / statistics.median(sums)
        env = {
            **os.environ,
            "NATS_URL": settings.nats_url,
            "STORE_URL": settings.store_url,
            "METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen([sys.executable, "-m", "workers", "worker"], env=env)
        drain_started = time.perf_counter()
        await until_store_matches(settings, t, files, time.monotonic() + 600)
        drain_s = time.perf_counter() - drain_started

        burst = tree / "burst"
        burst.mkdir()
        burst_started = time.perf_counter()
        for i in range(files):
            (burst / f"b{i:06d}.txt").write_bytes(b"burst %d\n" % i)
        written_s = time.perf_counter() - burst_started
        await until_store_matches(settings, t, 2 * files, time.monotonic() + 600)
        burst_s = time.perf_counter() - burst_started
        stop.set()
        await task

        print(f"\nfirst scan of {files:,} files ({total_mb:,.0f} MB): {scan_s:.1f} s")
        print(f"  watcher hashing  {hash_rate:8.1f} MB/s ({hashed:,} files)")
        print(f"  sha256sum        {sum_rate:8.1f} MB/s (median of {len(sums)} runs)")
        print(f"  ratio            {hash_rate / sum_rate:8.2f}x sha256sum")
        print(f"  published {published:,} events; worker drained them in {drain_s:.1f} s")
        print(
            f"burst of {files:,} file writes ({written_s:.1f} s to write): store matched the "
            f"folder {burst_s:.1f} s after the first write"
        )
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=100_000, help="bytes per file")
    parser.add_argument("--dir", type=Path, default=None, help="where the tree is written")
    args = parser.parse_args()
    asyncio.run(main(args.files, args.size, args.dir))
