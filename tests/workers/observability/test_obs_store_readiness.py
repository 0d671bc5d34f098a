"""Readiness turns red when the store does not answer: a cluster that cannot be reached (a read
that hangs, as a FoundationDB client with a stale cluster file does) or one that fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from workers.observability.health import Health, store_check
from workers.store.error_codes import StoreUnavailable


class Store:
    """Only `read`, which answers, hangs until released, or fails, as told."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.release = asyncio.Event()
        self.reads = 0

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        self.reads += 1
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "fail":
            raise StoreUnavailable("FoundationDB transaction timed out: 1031")
        return None


async def test_a_store_that_hangs_or_fails_makes_readiness_red_and_an_answer_green() -> None:
    store = Store()
    health = Health(timeout_s=0.2)
    health.add("store", store_check(store))  # type: ignore[arg-type]
    assert await health.readiness() == (True, {"store": "ok"})

    store.mode = "hang"
    assert await health.readiness() == (False, {"store": "no answer within 0.2 s"})
    assert await health.readiness() == (False, {"store": "no answer within 0.2 s"})
    assert store.reads == 2  # the hung probe is awaited again, not piled up behind

    store.mode = "fail"
    store.release.set()  # the hung probe now fails; the next check sees that failure
    ready, checks = await health.readiness()
    assert not ready and "FoundationDB transaction timed out" in checks["store"]

    store.mode = "answer"
    assert await health.readiness() == (True, {"store": "ok"})
