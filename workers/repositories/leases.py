"""Job leases: one key per job under `_sys/leases`, so only one replica runs a job at a time.

The value is `{"owner", "expires_at"}` as JSON. A lease is free once it has expired: whoever
asks next takes it over, so a crashed runner holds a job up for one TTL at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from workers.errors import WorkersError
from workers.repositories.base import Repository, decode
from workers.store.port import Transaction


class _Stored(BaseModel):
    """The stored value: the job is the key, not part of it."""

    owner: str
    expires_at: datetime


@dataclass(frozen=True)
class Lease:
    job: str
    owner: str
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        return now < self.expires_at


class LeaseLost(WorkersError):
    """Another owner took the lease over while this run was between batches."""

    def __init__(self, job: str, owner: str, holder: Lease | None) -> None:
        self.job, self.owner, self.holder = job, owner, holder
        who = f"{holder.owner} (until {holder.expires_at.isoformat()})" if holder else "nobody"
        super().__init__(f"lease on job {job!r} lost by {owner}: now held by {who}")


class LeaseRepository(Repository):
    def get(self, tr: Transaction, job: str) -> Lease | None:
        """Who holds a job's lease; it may have lapsed."""
        raw = tr.get(self.keys.leases.key(job))
        if raw is None:
            return None
        stored = decode(_Stored, raw, f"lease for job {job!r}")
        return Lease(job, stored.owner, stored.expires_at)

    def acquire(self, tr: Transaction, job: str, owner: str, now: datetime, ttl_s: float) -> Lease:
        """Take the lease if it is free, lapsed or ours; return whichever lease is in force."""
        current = self.get(tr, job)
        if current is not None and current.owner != owner and current.live(now):
            return current
        return self._put(tr, Lease(job, owner, now + timedelta(seconds=ttl_s)))

    def renew(self, tr: Transaction, job: str, owner: str, now: datetime, ttl_s: float) -> Lease:
        """Extend our lease; LeaseLost if someone else holds it (it lapsed and was taken over)."""
        current = self.get(tr, job)
        if current is None or current.owner != owner:
            raise LeaseLost(job, owner, current)
        return self._put(tr, Lease(job, owner, now + timedelta(seconds=ttl_s)))

    def release(self, tr: Transaction, job: str, owner: str) -> bool:
        """Give the lease back, only if it is still ours."""
        current = self.get(tr, job)
        if current is None or current.owner != owner:
            return False
        tr.clear(self.keys.leases.key(job))
        return True

    def _put(self, tr: Transaction, lease: Lease) -> Lease:
        stored = _Stored(owner=lease.owner, expires_at=lease.expires_at)
        tr.set(self.keys.leases.key(lease.job), stored.model_dump_json().encode())
        return lease
