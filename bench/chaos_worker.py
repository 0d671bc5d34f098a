"""A worker OS process for the chaos run: `python -m workers worker`, plus a stats file.

It runs what `python -m workers worker` runs (settings from the environment, `build_worker`,
consume until SIGTERM), and every 0.2 s (and at a clean exit) writes its counters to the JSON
file named on the command line: outcomes, commits, store retries and the faults its
`STORE_FAULTS` injector raised. A SIGKILL loses at most the last 0.2 s of counts, so the
harness's totals are lower bounds; the data checks never depend on them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.config import Config
from workers.service.lifecycle import stop_on_signals
from workers.service.worker import Worker, build_worker, run_until_stopped


def snapshot(worker: Worker, exited: bool = False) -> dict[str, Any]:
    st, store = worker.ingestor.stats, worker.store
    faults = getattr(store, "faults", None)
    return {
        "pid": os.getpid(),
        "applied": st.applied,
        "duplicates": st.duplicates,
        "dead": st.dead,
        "retried": st.retried,
        "batches": st.batches,
        "commits": getattr(store, "commits", 0),
        "store_retries": getattr(store, "retries", 0),
        "injected_1020": faults.injected_1020 if faults else 0,
        "injected_1021": faults.injected_1021 if faults else 0,
        "exited": exited,
    }


def write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


async def main(stats_file: Path) -> None:
    settings = Config()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    worker = build_worker(settings)
    stop = asyncio.Event()
    stop_on_signals(stop)

    async def report() -> None:
        while True:
            write(stats_file, snapshot(worker))
            await asyncio.sleep(0.2)

    reporter = asyncio.create_task(report())
    try:
        await run_until_stopped(worker, stop)
    finally:
        reporter.cancel()
        write(stats_file, snapshot(worker, exited=True))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
