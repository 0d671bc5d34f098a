"""Apply a batch of raw events: validate each, then one transaction for the whole batch.

This is the exactly-once core, free of NATS: a dedupe mark per event in the same transaction
as its effects. One bad event never fails its batch-mates: invalid ones are set aside before
the transaction, and if the batch transaction fails for a non-transient reason the events are
retried one per transaction so only the culprit is dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from pydantic import ValidationError

from events import Event, model_for_subject
from workers.handlers import BATCH_HANDLERS, HANDLERS, BatchMemo, Unit
from workers.ids import Uuid7Block, uuid7s
from workers.repositories import Repositories
from workers.store.errors import StoreError
from workers.store.port import Store, Transaction

if TYPE_CHECKING:
    from workers.ingest.pool import PreparePool

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD = "dead"  # permanent: goes to the dead-letter stream with its reason
    RETRY = "retry"  # transient: redeliver later


class Incoming(NamedTuple):  # a tuple: one is made per message, on the event loop
    subject: str
    data: bytes


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""


APPLIED, DUPLICATE = Result(Outcome.APPLIED), Result(Outcome.DUPLICATE)  # shared: immutable


@dataclass
class IngestStats:
    applied: int = 0
    duplicates: int = 0
    dead: int = 0
    retried: int = 0
    batches: int = 0
    by_subject: dict[tuple[str, Outcome], int] = field(default_factory=dict)


Decoded = tuple[int, str, Event]

PREPARE_FROM = 100  # events in a batch from which `Store.transact_prepared` pays
SLICE_BYTES = 2_000_000
"""Event bodies per transaction. A batch is one transaction unless its bodies pass this: then
consecutive slices, in order, so big messages never hit FoundationDB's 10 MB limit (2101)."""


class Ingestor:
    def __init__(self, store: Store, repos: Repositories, pool: PreparePool | None = None) -> None:
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

    async def _apply_in_pool(self, pool: PreparePool, batch: list[Incoming]) -> list[Result] | None:
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
        return _merged(dead, decoded, applied)

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
            return [Result(Outcome.DEAD, _describe(reason))]
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


def apply_events(
    repos: Repositories,
    decoded: list[Decoded],
    audit_ids: list[UUID],
    now_ms: int,
    tr: Transaction,
) -> list[Result]:
    """The exactly-once core: valid events, their dedupe marks and effects, one transaction."""
    done = repos.applied.applied(tr, [(e.tenant_id, e.event_id) for _, _, e in decoded])
    memo = BatchMemo()
    seen: set[tuple[UUID, UUID]] = set()
    results = []
    fresh: list[tuple[str, Unit, Event]] = []
    for (_, subject, event), audit_id, applied in zip(decoded, audit_ids, done, strict=True):
        key = (event.tenant_id, event.event_id)
        if applied or key in seen:
            results.append(DUPLICATE)
            continue
        seen.add(key)
        fresh.append((subject, Unit(tr, repos, audit_id, memo), event))
        repos.applied.mark(tr, event.tenant_id, event.event_id, now_ms)
        results.append(APPLIED)
    for subject, run in groupby(fresh, key=itemgetter(0)):  # runs keep the batch's order
        work = [(unit, event) for _, unit, event in run]
        if (apply_run := BATCH_HANDLERS.get(subject)) is not None:
            apply_run(work)
        else:
            for unit, event in work:
                HANDLERS[subject](unit, event)
    for tenant_id in {t for t, _ in seen}:
        repos.tenants.mark_seen(tr, tenant_id)
    return results


def apply_raw(
    repos: Repositories,
    batch: list[Incoming],
    audit_ids: Uuid7Block,
    now_ms: int,
    tr: Transaction,
) -> list[Result]:
    """A whole raw batch in one transaction, decoding included (what a child process runs):
    one result per event, the invalid ones dead with their reason. `audit_ids`: one per event."""
    dead, decoded = decode_all(batch)
    every_id = audit_ids.ids()
    ids = [every_id[i] for i, _, _ in decoded]
    return _merged(dead, decoded, apply_events(repos, decoded, ids, now_ms, tr))


def decode_all(batch: list[Incoming]) -> tuple[list[Result | None], list[Decoded]]:
    """Each invalid event's result (dead, with the reason) and the valid ones, in order."""
    results: list[Result | None] = [None] * len(batch)
    decoded: list[Decoded] = []
    for i, item in enumerate(batch):
        event_or_reason = decode(item)
        if isinstance(event_or_reason, str):
            results[i] = Result(Outcome.DEAD, event_or_reason)
        else:
            decoded.append((i, item.subject, event_or_reason))
    return results, decoded


def _merged(
    dead: list[Result | None], decoded: list[Decoded], applied: list[Result]
) -> list[Result]:
    """One result per event of the batch, in its order: `decode_all`'s dead ones, and the
    results of the valid ones (`applied`, in `decoded`'s order) in the places left."""
    for (i, _, _), result in zip(decoded, applied, strict=True):
        dead[i] = result
    return [r for r in dead if r is not None]


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


def decode(item: Incoming) -> Event | str:
    """The validated event, or the reason it is not one (for the dead-letter stream)."""
    model = model_for_subject(item.subject)
    if model is None:
        return f"unknown subject {item.subject!r}: no event is accepted on it"
    if not item.data:
        return "empty body: expected a JSON object"
    try:
        return model.model_validate_json(item.data)
    except ValidationError as e:
        return f"invalid {item.subject} event: {_summarize(e)}"


def _summarize(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = e.error_count() - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:2000]
