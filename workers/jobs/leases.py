"""Job leases: one key per job under `_sys`, so only one replica runs a job at a time.

A lease is taken, renewed and released inside transactions, and every purge batch renews it in
the batch's own transaction: a runner that lost its lease (paused past the TTL, then taken over)
finds out before it deletes anything more.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from workers.errors import WorkersError
from workers.store.keys import Keys
from workers.store.port import Store, Transaction


@dataclass(frozen=True)
class Lease:
    job: str
    owner: str
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        return now < self.expires_at

    def to_json(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires_at": self.expires_at.isoformat()}).encode()

    @classmethod
    def from_json(cls, job: str, raw: bytes) -> Lease:
        data = json.loads(raw)
        return cls(job, data["owner"], datetime.fromisoformat(data["expires_at"]))


class LeaseLost(WorkersError):
    """Another owner took the lease over while this run was between batches."""

    def __init__(self, job: str, owner: str, holder: Lease | None) -> None:
        self.job, self.owner, self.holder = job, owner, holder
        who = f"{holder.owner} (until {holder.expires_at.isoformat()})" if holder else "nobody"
        super().__init__(f"lease on job {job!r} lost by {owner}: now held by {who}")


def default_owner() -> str:
    """host:pid:random, unique per run so two runs in one process never share a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def read(tr: Transaction, keys: Keys, job: str) -> Lease | None:
    raw = tr.get(keys.leases.key(job))
    return Lease.from_json(job, raw) if raw is not None else None


def acquire(
    tr: Transaction, keys: Keys, job: str, owner: str, now: datetime, ttl_s: float
) -> Lease:
    """Take the lease if it is free, lapsed or ours; return whichever lease is in force."""
    current = read(tr, keys, job)
    if current is not None and current.owner != owner and current.live(now):
        return current
    lease = Lease(job, owner, now + timedelta(seconds=ttl_s))
    tr.set(keys.leases.key(job), lease.to_json())
    return lease


def renew(tr: Transaction, keys: Keys, job: str, owner: str, now: datetime, ttl_s: float) -> None:
    """Extend our lease; LeaseLost if someone else holds it (it lapsed and was taken over)."""
    current = read(tr, keys, job)
    if current is None or current.owner != owner:
        raise LeaseLost(job, owner, current)
    tr.set(keys.leases.key(job), Lease(job, owner, now + timedelta(seconds=ttl_s)).to_json())


def release(tr: Transaction, keys: Keys, job: str, owner: str) -> bool:
    """Give the lease back, only if it is still ours."""
    current = read(tr, keys, job)
    if current is None or current.owner != owner:
        return False
    tr.clear(keys.leases.key(job))
    return True


async def current_lease(store: Store, keys: Keys, job: str) -> Lease | None:
    """Who holds a job's lease (for the CLI and tests); it may have lapsed."""
    return await store.read(lambda tr: read(tr, keys, job))
