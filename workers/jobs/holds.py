"""Legal holds: a tenant, a user or a workspace session whose data no purge may remove.

Stored per tenant under `holds`, one key per (kind, subject). Purges load a tenant's holds once
per run and pass them as the batch methods' `keep` test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from workers.errors import WorkersError
from workers.ids import utcnow
from workers.jobs.clock import Clock
from workers.jobs.tenants import all_tenants
from workers.repositories import Repositories
from workers.store.keys import Keys
from workers.store.port import Store, Transaction

HoldKind = Literal["tenant", "user", "session"]
KINDS: tuple[HoldKind, ...] = ("tenant", "user", "session")


class InvalidHold(WorkersError):
    def __init__(self, kind: str, subject_id: UUID | None) -> None:
        need = "no subject id" if kind == "tenant" else "a subject id"
        super().__init__(
            f"hold kind {kind!r} with subject {subject_id}: expected one of {KINDS}, "
            f"and {need} for {kind!r}"
        )


class Hold(BaseModel):
    tenant_id: UUID
    kind: HoldKind
    subject_id: UUID | None = None
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class HoldSet:
    """A tenant's holds, loaded once per run: answers "is this record covered?"."""

    tenant: bool = False
    users: frozenset[UUID] = field(default_factory=frozenset)
    sessions: frozenset[UUID] = field(default_factory=frozenset)

    def covers(self, user_id: UUID | None, session_id: UUID | None) -> bool:
        return self.tenant or user_id in self.users or session_id in self.sessions

    @classmethod
    def of(cls, holds: list[Hold]) -> HoldSet:
        return cls(
            tenant=any(h.kind == "tenant" for h in holds),
            users=frozenset(h.subject_id for h in holds if h.kind == "user" and h.subject_id),
            sessions=frozenset(h.subject_id for h in holds if h.kind == "session" and h.subject_id),
        )


def _key(keys: Keys, tenant: UUID, kind: str, subject_id: UUID | None) -> bytes:
    if kind not in KINDS or (kind == "tenant") != (subject_id is None):
        raise InvalidHold(kind, subject_id)
    return keys.tenant(tenant).holds.key(kind, subject_id)


def load(tr: Transaction, keys: Keys, tenant: UUID) -> list[Hold]:
    rows = tr.get_range(*keys.tenant(tenant).holds.range())
    return [Hold.model_validate_json(v) for _, v in rows]


async def add_hold(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    kind: HoldKind,
    subject_id: UUID | None,
    reason: str,
    clock: Clock = utcnow,
) -> Hold:
    """Place a hold (or replace the reason of an existing one). Registers the tenant for jobs."""
    key = _key(repos.keys, tenant, kind, subject_id)
    hold = Hold(
        tenant_id=tenant, kind=kind, subject_id=subject_id, reason=reason, created_at=clock()
    )

    def put(tr: Transaction) -> Hold:
        tr.set(key, hold.model_dump_json().encode())
        repos.tenants.mark_seen(tr, tenant)
        return hold

    return await store.transact(put)


async def remove_hold(
    store: Store, repos: Repositories, tenant: UUID, kind: HoldKind, subject_id: UUID | None
) -> bool:
    """Lift a hold; False if there was none."""
    key = _key(repos.keys, tenant, kind, subject_id)

    def drop(tr: Transaction) -> bool:
        found = tr.get(key) is not None
        tr.clear(key)
        return found

    return await store.transact(drop)


async def list_holds(store: Store, repos: Repositories, tenant: UUID | None = None) -> list[Hold]:
    """Holds of one tenant, or of every tenant in the registry."""
    tenants = [tenant] if tenant is not None else await all_tenants(store, repos)
    out: list[Hold] = []
    for t in tenants:
        out.extend(await store.read(partial(load, keys=repos.keys, tenant=t)))
    return out
