"""Readiness: named checks run together, each within a deadline; the answer says which failed.

A check is an async callable that returns when all is well and raises (with a reason) when not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import NatsBroker
from nats.aio.client import Client

from workers.store import Store, Transaction

Check = Callable[[], Awaitable[None]]

READY_TIMEOUT_S = 2.0
PROBE_KEY = b"\x00readyz"  # never written: reading it is the cheapest transaction there is


class NotReady(Exception):
    """A check's reason, e.g. `not connected to nats://…`."""


class Health:
    def __init__(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.checks: dict[str, Check] = {}
        self.stopping: asyncio.Event | None = None  # once set, not ready whatever the checks

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """(ready, name -> "ok" or the reason), the checks run concurrently."""
        if self.stopping is not None and self.stopping.is_set():
            return False, {"process": "shutting down"}
        if not self.checks:
            return False, {"process": "starting"}
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        return all(r == "ok" for r in results), report

    async def _run(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self.timeout_s)
        except TimeoutError:
            return f"no answer within {self.timeout_s:g} s"
        except Exception as e:
            return str(e) or type(e).__name__
        return "ok"


def nats_check(broker: NatsBroker, url: str) -> Check:
    async def check() -> None:
        if not await broker.ping(timeout=0.5):
            raise NotReady(f"not connected to {url}")

    return check


def connected_check(nc: Client, url: str) -> Check:
    """A plain nats-py connection (the reads service's) is connected."""

    async def check() -> None:
        if not nc.is_connected:
            raise NotReady(f"not connected to {url}")

    return check


def all_of(checks: list[Check]) -> Check:
    """One check that holds when each of `checks` does, the first failure its reason; a check
    appended to the list later counts from then on."""

    async def check() -> None:
        for one in list(checks):
            await one()

    return check


def started_check(started: Callable[[], bool], reason: str) -> Check:
    """Ready once `started()` holds: a connected NATS is not yet a consuming worker (a producer
    that waits for /readyz must find the streams there)."""

    async def check() -> None:
        if not started():
            raise NotReady(reason)

    return check


def store_check(store: Store) -> Check:
    """A read transaction must answer. A probe still queued from an earlier check is awaited
    again rather than queuing another, so a hung store never piles probes up behind it."""
    pending: list[asyncio.Future[Any]] = []

    async def check() -> None:
        if not pending or pending[0].done():
            probe = asyncio.ensure_future(store.read(_probe))
            probe.add_done_callback(_retrieve)  # a probe that fails after its check timed out
            pending[:] = [probe]
        await asyncio.shield(pending[0])

    return check


def _probe(tr: Transaction) -> None:
    tr.get(PROBE_KEY)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
