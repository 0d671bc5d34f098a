"""A job run in its own OS process, for the kill and two-scheduler tests.

    jobs_child.py STORE_URL JOB --now ISO [--key-root ROOT] [--batch N] [--owner NAME]
                  [--out FILE] [--hold-until FILE]

Runs `run_job` on the store at STORE_URL with a fixed clock and writes the summary (as JSON) to
--out. With --hold-until, the first batch waits until that file exists: a run that got the
lease keeps it while the test lets a second process try for it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

from workers.config import Config
from workers.jobs.executor import run_job
from workers.jobs.summary import JobProgress
from workers.repositories import Repositories
from workers.store import open_store
from workers.store.keys import Keys

DEADLINE_S = 60.0


def wait_for(path: Path) -> None:
    """Block (this process only does this job) until the file appears, or fail loudly."""
    deadline = time.monotonic() + DEADLINE_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {DEADLINE_S} s")
        time.sleep(0.01)


async def main(args: argparse.Namespace) -> None:
    url = args.store_url
    settings = Config(  # type: ignore[call-arg]
        _env_file=None, store_url=url, key_root=args.key_root, purge_batch_size=args.batch
    )
    store = open_store(url)
    now = datetime.fromisoformat(args.now)
    held: list[bool] = []

    def progress(p: JobProgress) -> None:
        if args.hold_until and not held:
            held.append(True)
            wait_for(Path(args.hold_until))

    summary = await run_job(
        args.job,
        store,
        Repositories(Keys((args.key_root,))),
        settings,
        clock=lambda: now,
        progress=progress,
        owner=args.owner,
    )
    await store.close()
    if args.out:
        Path(args.out).write_text(json.dumps(summary.as_dict()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("store_url")
    parser.add_argument("job")
    parser.add_argument("--now", required=True)
    parser.add_argument("--key-root", default="ide")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--owner")
    parser.add_argument("--out")
    parser.add_argument("--hold-until")
    asyncio.run(main(parser.parse_args()))
