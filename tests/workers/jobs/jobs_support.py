"""Helpers for the job tests: an injected clock, a seeder that writes old data directly
(through the repositories) so nothing sleeps to make data old, and a few assertions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from events.audit_types import AuditEventType
from workers.ids import to_ms, uuid7
from workers.records import Audit, File
from workers.repositories import Repositories
from workers.repositories.cursors import Continuation
from workers.repositories.integrity import check
from workers.repositories.leases import Lease
from workers.store import Store
from workers.store.port import Transaction

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def days_ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


@dataclass
class Seeder:
    store: Store
    repos: Repositories

    async def audits(
        self,
        tenant: UUID,
        times: list[datetime],
        user_id: UUID | None = None,
        session_id: UUID | None = None,
    ) -> list[Audit]:
        records = [
            Audit(
                id=uuid7(to_ms(t)),
                tenant_id=tenant,
                event_type=AuditEventType.USER_LOGIN,
                user_id=user_id,
                workspace_session_id=session_id,
                occurred_at=t,
            )
            for t in times
        ]

        def write(tr: Transaction) -> None:
            for a in records:
                self.repos.audit.add(tr, a)
            self.repos.tenants.mark_seen(tr, tenant)

        await self.store.transact(write)
        return records

    async def files(
        self,
        tenant: UUID,
        deleted_at: list[datetime | None],
        user_id: UUID | None = None,
        session_id: UUID | None = None,
    ) -> list[File]:
        """One file per entry: soft-deleted at that time, or live for None."""
        session = session_id or uuid4()
        files = [
            File(
                tenant_id=tenant,
                id=uuid4(),
                workspace_session_id=session,
                user_id=user_id,
                file_path=f"src/{i}-{uuid4().hex[:6]}.py",
                checksum=f"{i:064x}",
                created_at=NOW - timedelta(days=400),
                updated_at=NOW - timedelta(days=400),
                last_event_at=NOW - timedelta(days=400),
                is_deleted=when is not None,
                deleted_at=when,
            )
            for i, when in enumerate(deleted_at)
        ]

        def write(tr: Transaction) -> None:
            for f in files:
                self.repos.files.create(tr, f)
            self.repos.tenants.mark_seen(tr, tenant)

        await self.store.transact(write)
        return files

    async def marks(self, tenant: UUID, times: list[datetime]) -> list[UUID]:
        ids = [uuid4() for _ in times]

        def write(tr: Transaction) -> None:
            for event_id, t in zip(ids, times, strict=True):
                self.repos.applied.mark(tr, tenant, event_id, to_ms(t))
            self.repos.tenants.mark_seen(tr, tenant)

        await self.store.transact(write)
        return ids


async def remaining_audit_ids(store: Store, repos: Repositories, tenant: UUID) -> set[UUID]:
    """Every audit id still reachable through the by-date index (paging to the end)."""
    out: set[UUID] = set()
    after: str | None = None
    while True:
        page = await store.transact(
            lambda tr, a=after: repos.audit.list_by_date(tr, tenant, limit=1000, after=a)
        )
        out |= {a.id for a in page.items}
        if page.next is None:
            return out
        after = page.next


async def receipts(store: Store, repos: Repositories, tenant: UUID) -> list[Audit]:
    page = await store.transact(
        lambda tr: repos.audit.list_by_event(tr, tenant, AuditEventType.DATA_PURGED, limit=1000)
    )
    return page.items


async def read_continuation(
    store: Store, repos: Repositories, tenant: UUID, job: str
) -> Continuation | None:
    """The stored position of an unfinished run (None: no run in progress)."""
    return await store.read(lambda tr: repos.cursors.get(tr, tenant, job))


async def current_lease(store: Store, repos: Repositories, job: str) -> Lease | None:
    """Who holds a job's lease; it may have lapsed."""
    return await store.read(lambda tr: repos.leases.get(tr, job))


async def assert_clean(store: Store, repos: Repositories) -> None:
    report = await check(store, repos)
    assert report.clean, [str(p) for p in report.problems]
