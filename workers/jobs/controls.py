"""What an operator changes between runs: legal holds and per-tenant retention overrides.

Each change is one short transaction through the repositories (`repos.holds`,
`repos.retention`), and registers the tenant so the jobs visit it.
"""

from __future__ import annotations

from functools import partial
from uuid import UUID

from workers.ids import utcnow
from workers.jobs.clock import Clock
from workers.repositories import Repositories
from workers.repositories.holds import Hold, HoldKind, check_subject
from workers.repositories.retention import AUDIT, FILES, InvalidRetention, Retention, Rule
from workers.store.port import Store, Transaction


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
    placed, _ = await place_hold(
        store, repos, tenant, kind, subject_id, reason, replace=True, clock=clock
    )
    return placed


async def place_hold(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    kind: HoldKind,
    subject_id: UUID | None,
    reason: str,
    *,
    replace: bool = False,
    clock: Clock = utcnow,
) -> tuple[Hold, Hold | None]:
    """Place a hold unless one is in place on the same subject (then, unless `replace`, it is
    kept as it is). Returns the hold in place after, and the one found before (or None)."""
    check_subject(kind, subject_id)  # before the model: its Literal would hide what is wrong
    hold = Hold(
        tenant_id=tenant, kind=kind, subject_id=subject_id, reason=reason, created_at=clock()
    )

    def put(tr: Transaction) -> tuple[Hold, Hold | None]:
        found = next(
            (
                h
                for h in repos.holds.list(tr, tenant)
                if (h.kind, h.subject_id) == (kind, subject_id)
            ),
            None,
        )
        if found is not None and not replace:
            return found, found
        repos.holds.put(tr, hold)
        repos.tenants.mark_seen(tr, tenant)
        return hold, found

    return await store.transact(put)


async def remove_hold(
    store: Store, repos: Repositories, tenant: UUID, kind: HoldKind, subject_id: UUID | None
) -> bool:
    """Lift a hold; False if there was none."""
    check_subject(kind, subject_id)
    return await store.transact(lambda tr: repos.holds.delete(tr, tenant, kind, subject_id))


async def list_holds(store: Store, repos: Repositories, tenant: UUID | None = None) -> list[Hold]:
    """Holds of one tenant, or of every tenant in the registry (a transaction per tenant)."""
    tenants = [tenant] if tenant is not None else await repos.tenants.all(store)
    out: list[Hold] = []
    for t in tenants:
        out.extend(await store.read(partial(_holds_of, repos, t)))
    return out


def _holds_of(repos: Repositories, tenant: UUID, tr: Transaction) -> list[Hold]:
    return repos.holds.list(tr, tenant)


async def get_retention(store: Store, repos: Repositories, tenant: UUID) -> Retention:
    return await store.read(lambda tr: repos.retention.get(tr, tenant))


async def set_retention(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    files_days: float | None = None,
    audit_days: float | None = None,
) -> Retention:
    """Override the periods given (None leaves that rule as it is); returns the result."""
    changes: dict[Rule, float | None] = {FILES: files_days, AUDIT: audit_days}
    for rule, days in changes.items():
        if days is not None and days < 0:  # refused before anything is written
            raise InvalidRetention(rule, days)

    def put(tr: Transaction) -> Retention:
        for rule, days in changes.items():
            if days is not None:
                repos.retention.set(tr, tenant, rule, days)
        repos.tenants.mark_seen(tr, tenant)
        return repos.retention.get(tr, tenant)

    return await store.transact(put)


async def clear_retention(
    store: Store, repos: Repositories, tenant: UUID, files: bool = True, audit: bool = True
) -> Retention:
    """Drop overrides, so the configured defaults apply again."""
    rules: list[Rule] = [r for r, on in ((FILES, files), (AUDIT, audit)) if on]

    def drop(tr: Transaction) -> Retention:
        for rule in rules:
            repos.retention.clear(tr, tenant, rule)
        return repos.retention.get(tr, tenant)

    return await store.transact(drop)
