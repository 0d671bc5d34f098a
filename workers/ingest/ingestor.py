"""Apply a batch of raw events: one transaction for the whole batch, where it was prepared.

One bad event never fails its batch-mates: invalid ones are set aside before the transaction,
and if the batch transaction fails for a non-transient reason the events are retried one per
transaction so only the culprit is dead-lettered. Big batches are prepared in other processes
when a `Preparer` is given (see `workers.ingest.pool`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from workers.ids import Uuid7Block, uuid7s
from workers.ingest.core import Decoded, apply_events, apply_raw, decode_all, describe, merged
from workers.ingest.outcomes import Incoming, Outcome, Result
from workers.repositories import Repositories
from workers.store.error_codes import StoreError
from workers.store.port import Store, Transaction

log = logging.getLogger(__name__)


class Preparer(Protocol):
    """Prepares big batches in other processes (`workers.ingest.pool.PreparePool`)."""

    processes: int

    def ready(self) -> bool: ...

    async def transact(
        self,
        fn: Callable[[Transaction], list[Result]],
        batch: list[Incoming],
        audit_ids: Uuid7Block,
        now_ms: int,
    ) -> list[Result]: ...

    async def close(self) -> None: ...


@dataclass
class IngestStats:
    applied: int = 0
    duplicates: int = 0
    dead: int = 0
    retried: int = 0
    batches: int = 0
    by_subject: dict[tuple[str, Outcome], int] = field(default_factory=dict)


PREPARE_FROM = 100  # events in a batch from which `Store.transact_prepared` pays
SLICE_BYTES = 2_000_000
"""Event bodies per transaction. A batch is one transaction unless its bodies pass this: then
consecutive slices, in order, so big messages never hit FoundationDB's 10 MB limit (2101)."""


class Ingestor:
    def __init__(self, store: Store, repos: Repositories, pool: Preparer | None = None) -> None:
        self.store = store
        self.repos = repos
        self.pool = pool  # prepares big batches in other processes (SQLite only)
        self.stats = IngestStats()

    async def apply(self, batch: list[Incoming]) -> list[Result]:
        final = None
        if self.pool is not None and len(batch) >= PREPARE_FROM:
            final = await self._apply_in_pool(self.pool, batch)
        if final is None:
            final = await self._apply_here(batch)
        self._count(batch, final)
        return final

    async def _apply_in_pool(self, pool: Preparer, batch: list[Incoming]) -> list[Result] | None:
        """One transaction prepared in a child process; None if it must be applied here (too
        big for one transaction, the children not up yet, or a failure that the slower path
        below knows how to handle)."""
        if sum(len(item.data) for item in batch) > SLICE_BYTES or not pool.ready():
            return None
        audit_ids = Uuid7Block.new(len(batch))  # made once: a retry or fallback reuses them
        now_ms = int(time.time() * 1000)
        try:
            fn = partial(apply_raw, self.repos, batch, audit_ids, now_ms)
            return await pool.transact(fn, batch, audit_ids, now_ms)
        except Exception as e:
            log.info("batch of %d not applied as prepared (%s); applying it here", len(batch), e)
            return None

    async def _apply_here(self, batch: list[Incoming]) -> list[Result]:
        dead, decoded = decode_all(batch)
        applied = [r for part in _slices(decoded, batch) for r in await self._apply_decoded(part)]
        return merged(dead, decoded, applied)

    async def _apply_decoded(self, decoded: list[Decoded]) -> list[Result]:
        audit_ids = uuid7s(len(decoded))  # made outside the retry loop
        now_ms = int(time.time() * 1000)
        reason: Exception
        try:
            # A big batch (traffic is heavy) builds its models, JSON and keys off the write
            # lock; a small one (traffic is light) goes straight to it: one thread hop less.
            big = len(decoded) >= PREPARE_FROM
            transact = self.store.transact_prepared if big else self.store.transact
            fn = partial(apply_events, self.repos, decoded, audit_ids, now_ms)
            return await transact(fn)
        except StoreError as e:
            if e.retryable:
                return [Result(Outcome.RETRY, str(e))] * len(decoded)
            reason = e
        except Exception as e:
            reason = e
        if len(decoded) == 1:
            log.warning("event dead-lettered: %s", reason)
            return [Result(Outcome.DEAD, describe(reason))]
        log.info("batch of %d failed (%s); applying one per transaction", len(decoded), reason)
        return [r for d in decoded for r in await self._apply_decoded([d])]

    def _count(self, batch: list[Incoming], results: list[Result]) -> None:
        st = self.stats
        st.batches += 1
        for item, r in zip(batch, results, strict=True):
            key = (item.subject, r.outcome)
            st.by_subject[key] = st.by_subject.get(key, 0) + 1
            if r.outcome is Outcome.APPLIED:
                st.applied += 1
            elif r.outcome is Outcome.DUPLICATE:
                st.duplicates += 1
            elif r.outcome is Outcome.DEAD:
                st.dead += 1
            else:
                st.retried += 1


def _slices(decoded: list[Decoded], batch: list[Incoming]) -> Iterator[list[Decoded]]:
    part: list[Decoded] = []
    size = 0
    for item in decoded:
        n = len(batch[item[0]].data)
        if part and size + n > SLICE_BYTES:
            yield part
            part, size = [], 0
        part.append(item)
        size += n
    if part:
        yield part
