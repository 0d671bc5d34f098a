"""`subject erase`: remove a user's conversations, messages, settings and files' metadata, and
pseudonymise them in the audit trail (GDPR article 17), with a DataErased receipt.

Order matters. The erasure marker goes first (`repositories/erasures.py`): from then on the
workers drop the user's events, so nothing removed below comes back. Then the dead letters
naming the user, then each kind in transactions of at most STEP records; each transaction
also adds its counts to the marker, so a run killed at any point resumes where it stopped with
the right totals, and a run over a finished erasure changes nothing. The receipt and the
marker's end are one transaction.

Audit records are kept, emptied of their personal fields (user, IP address, user agent,
`event_data`) but not of those fields' digest, which their Merkle leaves commit to: every
sealed window still verifies (`audit_merkle.erase_personal`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from uuid import UUID

from events.audit_types import AuditEventType
from workers.errors import WorkersError
from workers.ids import utcnow, uuid7
from workers.jobs.rules import HoldSet
from workers.reads import queries
from workers.reads.kinds import RecordKind as K
from workers.records import Audit, Conversation, File
from workers.repositories import Repositories
from workers.repositories.erasures import Erasure, subject_digest
from workers.store.port import Store, Transaction

STEP = 200
"""Records per transaction: far inside FoundationDB's 10 MB and 5 s (a message is ~1 KB)."""

KINDS = ("dead_letters", "conversations", "messages", "settings", "files", "file_history", "audit")

KEPT = {
    "audit": "pseudonymised, not removed: the trail's seals must still verify; the records keep "
    "their type, time and ids, and a digest of the removed personal fields",
    "agents": "kept: an agent is the tenant's, not the user's (none names the user)",
}
RESIDUAL = (
    "events naming the user that are still in the EVENTS stream (up to STREAM_MAX_AGE_DAYS) "
    "or published later are dropped by the workers, each with an ErasedUserEventDropped "
    "record; copies outside this system (backups, producers' logs) are not reached"
)

Progress = Callable[[str, int], None]
DeadLetters = Callable[[], Awaitable[int]]


class SubjectHeld(WorkersError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} is under a legal hold: nothing was erased; lift the hold "
            "(`workers hold remove`) once the case allows it"
        )


@dataclass
class ErasureReport:
    run_id: UUID
    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    already: bool = False  # the erasure had finished before this run


async def erase_subject(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    user: UUID,
    *,
    dry_run: bool = False,
    dead_letters: DeadLetters | None = None,
    progress: Progress | None = None,
) -> ErasureReport:
    """Erase `user` of `tenant` (or count what would go); SubjectHeld if a hold covers them."""
    await _refuse_if_held(store, repos, tenant, user)
    if dry_run:
        return ErasureReport(uuid7(), await _would_erase(store, repos, tenant, user), dry_run=True)
    erasure = await store.transact(lambda tr: _begin(tr, repos, tenant, user))
    if erasure.finished_at is not None:
        return ErasureReport(erasure.run_id, erasure.counts, already=True)
    run = _Run(store, repos, tenant, user, progress)
    if dead_letters is not None and "dead_letters" not in erasure.counts:
        await run.record("dead_letters", await dead_letters())
    await run.conversations()
    await run.repeat("settings", lambda tr: repos.settings.erase_user_batch(tr, tenant, user, STEP))
    await run.files()
    await run.file_history()
    await run.repeat("audit", lambda tr: repos.audit.pseudonymise_batch(tr, tenant, user, STEP))
    done = await store.transact(lambda tr: _finish(tr, repos, tenant, user))
    return ErasureReport(done.run_id, done.counts)


async def _refuse_if_held(store: Store, repos: Repositories, tenant: UUID, user: UUID) -> None:
    holds = HoldSet.of(await store.read(lambda tr: repos.holds.list(tr, tenant)))
    if holds.tenant:
        raise SubjectHeld(f"tenant {tenant}")
    if user in holds.users:
        raise SubjectHeld(f"user {user}")
    for session in sorted(holds.sessions):
        held = partial(_has_in_session, repos=repos, tenant=tenant, user=user, session=session)
        if await store.read(held):
            raise SubjectHeld(f"session {session} of user {user}")


def _has_in_session(
    tr: Transaction, repos: Repositories, tenant: UUID, user: UUID, session: UUID
) -> bool:
    """Whether the user has a conversation or a file in `session` (a held session)."""
    after: str | None = None
    while True:
        page = repos.conversations.get_by_session(tr, tenant, session, 500, after)
        if any(c.user_id == user for c in page.items):
            return True
        if (after := page.next) is None:
            break
    while True:
        files = repos.files.list_by_session(tr, tenant, session, True, 500, after)
        if any(f.user_id == user for f in files.items):
            return True
        if (after := files.next) is None:
            return False


def _begin(tr: Transaction, repos: Repositories, tenant: UUID, user: UUID) -> Erasure:
    erasure = repos.erasures.get(tr, tenant, user)
    if erasure is None:
        erasure = Erasure(run_id=uuid7(), started_at=utcnow())
        repos.erasures.put(tr, tenant, user, erasure)
    return erasure


def _finish(tr: Transaction, repos: Repositories, tenant: UUID, user: UUID) -> Erasure:
    erasure = repos.erasures.get(tr, tenant, user)
    assert erasure is not None, "begun in an earlier transaction"
    if erasure.finished_at is not None:
        return erasure
    erasure.finished_at = utcnow()
    counts = {kind: erasure.counts.get(kind, 0) for kind in KINDS}
    erasure.counts = counts
    repos.erasures.put(tr, tenant, user, erasure)
    repos.audit.create(
        tr,
        Audit(
            id=erasure.run_id,
            tenant_id=tenant,
            event_type=AuditEventType.DATA_ERASED,
            occurred_at=erasure.finished_at,
            event_data={
                "erasure_id": str(erasure.run_id),
                "subject": subject_digest(tenant, user),
                "started_at": erasure.started_at.isoformat(),
                "counts": dict(counts),
                "kept": dict(KEPT),
                "residual": RESIDUAL,
            },
        ),
    )
    return erasure


class _Run:
    """The steps of one erasure; each transaction adds its counts to the marker."""

    def __init__(
        self,
        store: Store,
        repos: Repositories,
        tenant: UUID,
        user: UUID,
        progress: Progress | None,
    ) -> None:
        self.store, self.repos, self.tenant, self.user = store, repos, tenant, user
        self.progress = progress

    def _marker(self, tr: Transaction) -> Erasure:
        erasure = self.repos.erasures.get(tr, self.tenant, self.user)
        assert erasure is not None, "begun in an earlier transaction"
        return erasure

    def _count(
        self,
        tr: Transaction,
        added: dict[str, int],
        erasure: Erasure | None = None,
        **cursor: str | None,
    ) -> Erasure:
        """Add `added` to the marker's counts (`erasure`: the marker this transaction read)."""
        erasure = erasure or self._marker(tr)
        for kind, n in added.items():
            erasure.counts[kind] = erasure.counts.get(kind, 0) + n
        for name, value in cursor.items():
            setattr(erasure, name, value)
        self.repos.erasures.put(tr, self.tenant, self.user, erasure)
        return erasure

    def _report(self, erasure: Erasure, kind: str) -> None:
        if self.progress is not None:
            self.progress(kind, erasure.counts.get(kind, 0))

    async def record(self, kind: str, n: int) -> None:
        """Set `kind`'s count to `n`, work done outside the store (a retried commit must not
        add it twice)."""

        def step(tr: Transaction) -> Erasure:
            erasure = self._marker(tr)
            erasure.counts[kind] = n
            self.repos.erasures.put(tr, self.tenant, self.user, erasure)
            return erasure

        self._report(await self.store.transact(step), kind)

    async def repeat(self, kind: str, batch: Callable[[Transaction], int]) -> None:
        """Run `batch` (it removes up to STEP, returns how many) until it finds nothing."""

        def step(tr: Transaction) -> tuple[int, Erasure]:
            n = batch(tr)
            return n, self._count(tr, {kind: n})

        while True:
            n, erasure = await self.store.transact(step)
            self._report(erasure, kind)
            if n == 0:
                return

    async def conversations(self) -> None:
        """Each conversation's messages STEP at a time, then its counters and itself."""
        repos, tenant, user = self.repos, self.tenant, self.user

        def step(tr: Transaction) -> tuple[bool, Erasure | None]:
            page = repos.conversations.list_by_user(tr, tenant, user, 1, None)
            if not page.items:
                return False, None
            conversation = page.items[0].id
            messages = repos.messages.list_by_conversation(tr, tenant, conversation, 0, STEP)
            for message in messages.items:
                repos.messages.remove(tr, message)
            if messages.items:
                return True, self._count(tr, {"messages": len(messages.items)})
            repos.conversations.clear_counts(tr, tenant, conversation)
            repos.conversations.delete(tr, tenant, conversation)
            return True, self._count(tr, {"conversations": 1})

        while True:
            more, erasure = await self.store.transact(step)
            if erasure is not None:
                self._report(erasure, "messages")
            if not more:
                return

    async def files(self) -> None:
        """The tenant's files, page by page from where the last run stopped: the user's go."""
        repos, tenant, user = self.repos, self.tenant, self.user
        spec = repos.files.spec()

        def step(tr: Transaction) -> tuple[bool, Erasure]:
            erasure = self._marker(tr)
            page = repos.tenants.records(tr, spec, tenant, STEP, erasure.files_after)
            mine = [f for f in page.items if isinstance(f, File) and f.user_id == user]
            for file in mine:
                repos.files.purge(tr, file)
            after = page.next
            counted = self._count(tr, {"files": len(mine)}, erasure, files_after=after)
            return after is not None, counted

        while True:
            more, erasure = await self.store.transact(step)
            self._report(erasure, "files")
            if not more:
                return

    async def file_history(self) -> None:
        """The kept file steps (and heads) that name the user, in the tenant's history."""
        repos, tenant, user = self.repos, self.tenant, self.user
        tk = repos.keys.tenant(tenant)
        who = str(user).encode()
        prefixes = sorted((tk.file_history, tk.file_history_head), key=lambda p: p.range()[0])

        def step(tr: Transaction) -> tuple[bool, Erasure]:
            erasure = self._marker(tr)
            at = bytes.fromhex(erasure.history_after) if erasure.history_after else None
            removed, last = 0, None
            for prefix in prefixes:
                begin, end = prefix.range()
                if at is not None and at >= end:
                    continue
                if at is not None and at >= begin:
                    begin = at + b"\x00"
                rows = tr.get_range(begin, end, limit=STEP)
                for key, raw in rows:
                    if who in raw:
                        tr.clear(key)
                        removed += 1
                if len(rows) == STEP:
                    last = rows[-1][0]
                    break
            cursor = last.hex() if last is not None else None
            counted = self._count(tr, {"file_history": removed}, erasure, history_after=cursor)
            return last is not None, counted

        while True:
            more, erasure = await self.store.transact(step)
            self._report(erasure, "file_history")
            if not more:
                return


async def _would_erase(
    store: Store, repos: Repositories, tenant: UUID, user: UUID
) -> dict[str, int]:
    """What an erasure would remove or pseudonymise (`--dry-run`), read page by page."""
    counts = dict.fromkeys(KINDS[1:], 0)  # the dead letters are counted by the caller
    asked = {
        "conversations": (K.CONVERSATION, queries.Filters(tenant=tenant, user=user)),
        "settings": (K.SETTINGS, queries.Filters(tenant=tenant, user=user)),
        "files": (K.FILES, queries.Filters(tenant=tenant, user=user, include_deleted=True)),
        "audit": (K.AUDIT, queries.Filters(tenant=tenant, user=user)),
    }
    for name, (kind, f) in asked.items():
        pages, keep = queries.lister(repos, kind, f)
        async for record in queries.stream(store, pages, f, keep):
            counts[name] += 1
            if isinstance(record, Conversation):
                n, _ = await store.read(
                    partial(repos.conversations.counts, tenant_id=tenant, conversation_id=record.id)
                )
                counts["messages"] += n
    return counts
