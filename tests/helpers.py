"""Test helpers shared across folders (import as `tests.helpers`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 30.0,
    what: str = "condition",
) -> None:
    """Poll until `predicate` holds, or fail after `timeout` seconds (no sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
