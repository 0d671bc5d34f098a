"""Per-tenant retention overrides: a tenant may keep files or audit events longer (or shorter).

One key per rule under the tenant's `retention` prefix; a missing key means "the default".
The command line's `--older-than-days` beats both (see `runner.cutoff_days`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from workers.errors import WorkersError
from workers.repositories import Repositories
from workers.store.keys import Keys
from workers.store.port import Store, Transaction

FILES, AUDIT = "files", "audit"


class InvalidRetention(WorkersError):
    def __init__(self, rule: str, days: float) -> None:
        super().__init__(f"retention for {rule!r} must be >= 0 days, got {days}")


@dataclass(frozen=True)
class Retention:
    """A tenant's overrides, in days; None = the configured default applies."""

    files_days: float | None = None
    audit_days: float | None = None

    def days(self, rule: str) -> float | None:
        return {FILES: self.files_days, AUDIT: self.audit_days}.get(rule)


def load(tr: Transaction, keys: Keys, tenant: UUID) -> Retention:
    prefix = keys.tenant(tenant).retention
    files, audit = tr.get_many([prefix.key(FILES), prefix.key(AUDIT)])
    return Retention(_days(files), _days(audit))


def _days(raw: bytes | None) -> float | None:
    return float(json.loads(raw)["days"]) if raw is not None else None


async def get_retention(store: Store, repos: Repositories, tenant: UUID) -> Retention:
    return await store.read(lambda tr: load(tr, repos.keys, tenant))


async def set_retention(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    files_days: float | None = None,
    audit_days: float | None = None,
) -> Retention:
    """Override the periods given (None leaves that rule as it is); returns the result."""
    prefix = repos.keys.tenant(tenant).retention
    changes = {FILES: files_days, AUDIT: audit_days}
    for rule, days in changes.items():
        if days is not None and days < 0:
            raise InvalidRetention(rule, days)

    def put(tr: Transaction) -> Retention:
        for rule, days in changes.items():
            if days is not None:
                tr.set(prefix.key(rule), json.dumps({"days": days}).encode())
        repos.tenants.mark_seen(tr, tenant)
        return load(tr, repos.keys, tenant)

    return await store.transact(put)


async def clear_retention(
    store: Store, repos: Repositories, tenant: UUID, files: bool = True, audit: bool = True
) -> Retention:
    """Drop overrides, so the configured defaults apply again."""
    prefix = repos.keys.tenant(tenant).retention
    rules = [r for r, on in ((FILES, files), (AUDIT, audit)) if on]

    def drop(tr: Transaction) -> Retention:
        for rule in rules:
            tr.clear(prefix.key(rule))
        return load(tr, repos.keys, tenant)

    return await store.transact(drop)
