"""Stopping tasks for sure: a cancellation that is swallowed once is repeated, and a task that
never ends is reported after the deadline instead of hanging the stop."""

from __future__ import annotations

import asyncio

import pytest

from workers.tasks import cancel_and_wait, finish_within


class Stubborn:
    """A task body that swallows its first `times` cancellations (None: every one), as a task
    inside Python 3.11's `wait_for` does when the cancel races the result it waits for."""

    def __init__(self, times: int | None) -> None:
        self.times = times
        self.swallowed = 0

    async def run(self) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if self.times is not None and self.swallowed >= self.times:
                    raise
                self.swallowed += 1


async def test_a_cancellation_swallowed_once_is_repeated_until_the_task_ends() -> None:
    stubborn = Stubborn(times=1)
    task = asyncio.create_task(stubborn.run())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout=5) == set()
    assert task.cancelled() and stubborn.swallowed == 1


async def test_a_task_that_never_ends_is_reported_after_the_deadline() -> None:
    stubborn = Stubborn(times=None)
    task = asyncio.create_task(stubborn.run())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout=0.3) == {task}
    assert not task.done() and stubborn.swallowed >= 2
    stubborn.times = stubborn.swallowed  # the next one ends it
    assert await cancel_and_wait([task], timeout=5) == set()


async def test_finish_within_returns_in_time_raises_errors_and_cancels_the_slow() -> None:
    assert await finish_within(asyncio.sleep(0), timeout=5) is True

    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await finish_within(fail(), timeout=5)

    slow = asyncio.ensure_future(asyncio.sleep(3600))
    assert await finish_within(slow, timeout=0.05) is False
    assert slow.cancelled()
