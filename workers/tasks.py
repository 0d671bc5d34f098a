"""Stopping asyncio tasks for sure, within a deadline.

Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives just as the future it
waits for completes (bpo-42130, fixed by the rewrite in 3.12). nats-py waits that way in every
request, so a task cancelled once may go on running, and `await task` never returns: a worker
that stops while a poll or a fetch is in flight hangs. Every stop here cancels again until the
task has ended, and gives up after a deadline, reporting what is still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

RECANCEL_EVERY_S = 0.1
CANCEL_WAIT_S = 5.0  # how long a cancelled task may take to unwind (close files, roll back)

F = TypeVar("F", bound="asyncio.Future[Any]")


async def cancel_and_wait(tasks: Iterable[F], timeout: float = CANCEL_WAIT_S) -> set[F]:
    """Cancel `tasks` and wait up to `timeout` seconds for them to end; those still running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_EVERY_S, left))
    return pending


async def finish_within(aw: Awaitable[Any], timeout: float) -> bool:
    """Await `aw` for at most `timeout` seconds, then cancel it for sure. Whether it finished
    in time; its error, if it raised one, is raised here."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        await cancel_and_wait([task])
        return False
    task.result()
    return True
