"""`audit verify`: recompute every sealed window of a tenant and check the chain.

Each window is read in its own snapshot (FoundationDB's 5 s), in order. The first problem
stops the walk and is reported with its window and record: a changed record, one removed
outside the retention purge, an inserted one, windows missing, reordered leaves, a bad
signature, or a store that ends before an exported checkpoint (the newest windows cut off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from uuid import UUID

from workers.repositories.audit_merkle import leaf_hash, merkle_root
from workers.repositories.audit_seal import (
    NO_PREVIOUS,
    AuditSealRepository,
    Checkpoint,
    LogEntry,
    Signed,
    leaves_digest,
)
from workers.repositories.audit_signing import TrustedKeys
from workers.store.port import Store, Transaction

PAGE = 10_000


@dataclass(frozen=True)
class Problem:
    window: int | None
    record: UUID | None
    seq: int | None
    what: str

    def line(self) -> str:
        where = []
        if self.window is not None:
            where.append(f"window {self.window}")
        if self.record is not None:
            seq = f" (seq {self.seq})" if self.seq is not None else ""
            where.append(f"record {self.record}{seq}")
        return f"{', '.join(where) or 'trail'}: {self.what}"


@dataclass(frozen=True)
class PurgedRange:
    window: int
    first: int
    last: int
    count: int
    run_id: UUID | None
    cutoff: datetime


@dataclass
class VerifyReport:
    tenant: UUID
    windows: int = 0
    records: int = 0  # sealed records checked against their leaves
    purged: int = 0  # sealed records removed by a signed purge
    unsealed: int = 0  # written, not sealed yet (full runs only)
    newest_window: int | None = None
    purges: list[PurgedRange] = field(default_factory=list)
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


Progress = Callable[[VerifyReport], None]


@dataclass(frozen=True)
class _Window:
    checkpoint: Checkpoint
    log: list[LogEntry]
    raws: list[bytes | None]
    purges: list[Signed]


class Verifier:
    def __init__(
        self,
        store: Store,
        seal: AuditSealRepository,
        tenant: UUID,
        trusted: TrustedKeys,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        anchor: Signed | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store, self.seal, self.tenant, self.trusted = store, seal, tenant, trusted
        self.since, self.until, self.anchor, self.progress = since, until, anchor, progress
        self.report = VerifyReport(tenant)

    async def run(self) -> VerifyReport:
        r = self.report
        r.problem = await self._windows() or await self._anchor()
        if r.problem is None and self.since is None and self.until is None:
            r.problem = await self._coverage()
        return r

    async def _windows(self) -> Problem | None:
        prev: Checkpoint | None = None
        expected = 0
        while True:
            page = await self.store.read(partial(self._checkpoints, expected))
            if not page:
                return None
            for window, signed in page:
                if signed is None or signed.checkpoint is None:
                    return Problem(window, None, None, "the stored checkpoint is not readable")
                cp = signed.checkpoint
                if window != expected or cp.window != window:
                    return Problem(expected, None, None, "window missing from the chain")
                if (problem := self._signature(window, signed, cp.body(), cp.key_id)) is not None:
                    return problem
                want_prev = prev.digest() if prev is not None else NO_PREVIOUS
                want_first = prev.end if prev is not None else 0
                if window > 0 and prev is None:
                    want_prev, want_first = cp.prev, cp.first  # before --since: not re-read
                if cp.prev != want_prev or cp.first != want_first:
                    return Problem(window, None, None, "does not chain to the window before it")
                prev, expected = cp, window + 1
                self.report.newest_window = window
                if not self._selected(cp):
                    continue
                problem = await self.store.read(partial(self._check_window, cp, signed))
                if problem is not None:
                    return problem
                self.report.windows += 1
                if self.progress is not None:
                    self.progress(self.report)

    def _checkpoints(self, start: int, tr: Transaction) -> list[tuple[int, Signed | None]]:
        return self.seal.checkpoints(tr, self.tenant, start, 100)

    def _selected(self, cp: Checkpoint) -> bool:
        if self.since is not None and cp.sealed_at < self.since:
            return False
        return self.until is None or cp.sealed_at <= self.until

    def _signature(self, window: int, signed: Signed, body: bytes, kid: str) -> Problem | None:
        try:
            signature = bytes.fromhex(signed.signature)
        except ValueError:
            return Problem(window, None, None, "signature is not hex")
        what = self.trusted.verify(kid, signature, body)
        return Problem(window, None, None, what) if what is not None else None

    def _check_window(self, cp: Checkpoint, signed: Signed, tr: Transaction) -> Problem | None:
        w = cp.window
        log = self.seal.log(tr, self.tenant, cp.first, cp.end)
        if [e.seq for e in log] != list(range(cp.first, cp.first + len(log))) or len(
            log
        ) != cp.size:
            return Problem(w, None, None, f"the log holds {len(log)} entries, sealed {cp.size}")
        tk = self.seal.keys.tenant(self.tenant)
        raws = tr.get_many([tk.audit.key(e.record_id) for e in log])
        authorized: set[int] = set()
        for purge in self.seal.purges(tr, self.tenant, w):
            st = purge.purge
            if st is None:
                return Problem(w, None, None, "a stored purge statement is not one")
            if (problem := self._signature(w, purge, st.body(), st.key_id)) is not None:
                return Problem(w, None, None, f"purge statement: {problem.what}")
            seqs = set(st.seqs)
            if leaves_digest([e.leaf for e in log if e.seq in seqs]) != st.leaves:
                return Problem(w, None, None, "a purge statement does not match the log")
            authorized |= seqs
            self.report.purges.append(
                PurgedRange(w, st.seqs[0], st.seqs[-1], len(st.seqs), st.run_id, st.cutoff)
            )
        for entry, raw in zip(log, raws, strict=True):
            if raw is None:
                if entry.seq not in authorized:
                    return Problem(
                        w, entry.record_id, entry.seq, "removed outside the retention purge"
                    )
                self.report.purged += 1
            elif leaf_hash(raw) != entry.leaf:
                return Problem(w, entry.record_id, entry.seq, "changed since it was sealed")
            else:
                self.report.records += 1
        if merkle_root([e.leaf for e in log]).hex() != cp.root:
            return Problem(
                w,
                None,
                None,
                "the log does not match the signed root (reordered or replaced entries)",
            )
        return None

    async def _anchor(self) -> Problem | None:
        if self.anchor is None:
            return None
        a = self.anchor.checkpoint
        if a is None:
            return Problem(None, None, None, "the anchor file holds no checkpoint")
        if a.tenant_id != self.tenant:
            return Problem(a.window, None, None, f"the anchor is tenant {a.tenant_id}'s")
        if (problem := self._signature(a.window, self.anchor, a.body(), a.key_id)) is not None:
            return Problem(a.window, None, None, f"anchor: {problem.what}")
        stored = await self.store.read(
            lambda tr: self.seal.checkpoints(tr, self.tenant, a.window, 1)
        )
        if not stored or stored[0][0] != a.window:
            newest = self.report.newest_window
            return Problem(
                a.window,
                None,
                None,
                f"the anchored window is not in the store, whose trail ends at window {newest}: "
                "the newest windows were cut off",
            )
        got = stored[0][1]
        if got is None or got.checkpoint is None or got.checkpoint.digest() != a.digest():
            return Problem(a.window, None, None, "differs from the anchored checkpoint")
        return None

    async def _coverage(self) -> Problem | None:
        """Every stored record is sealed or queued: one inserted below the repositories is not."""
        tk = self.seal.keys.tenant(self.tenant)
        begin, end = tk.audit.range()
        while True:

            def page(tr: Transaction, begin: bytes = begin) -> tuple[list[UUID], set[UUID], bytes]:
                rows = tr.get_range(begin, end, limit=PAGE)
                ids = [tk.audit.tail(k)[0] for k, _ in rows]
                if not ids:
                    return [], set(), end
                known: set[UUID] = set()
                for prefix in (tk.audit_log_by_id, tk.audit_unsealed):
                    lo, hi = prefix.key(ids[0]), prefix.key(ids[-1]) + b"\x00"
                    known |= {prefix.tail(k)[0] for k, _ in tr.get_range(lo, hi)}
                unsealed = tk.audit_unsealed
                queued = tr.get_range(unsealed.key(ids[0]), unsealed.key(ids[-1]) + b"\x00")
                self.report.unsealed += len(queued)
                return ids, known, rows[-1][0] + b"\x00"

            ids, known, begin = await self.store.read(page)
            for record_id in ids:
                if record_id not in known:
                    return Problem(
                        None,
                        record_id,
                        None,
                        "in the store but never sealed nor "
                        "queued for sealing (inserted below the repositories)",
                    )
            if len(ids) < PAGE:
                return None
