"""Per-tenant retention overrides: a tenant may keep files or audit events longer (or shorter).

One key per rule under the tenant's `retention` prefix, the value `{"days": N}` as JSON; a
missing key means "the configured default".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from workers.errors import WorkersError
from workers.repositories.base import Repository, decode
from workers.store.port import Transaction

Rule = Literal["files", "audit"]
FILES: Rule = "files"
AUDIT: Rule = "audit"
RULES: tuple[Rule, ...] = (FILES, AUDIT)


class InvalidRetention(WorkersError):
    def __init__(self, rule: str, days: float) -> None:
        super().__init__(f"retention for {rule!r} must be >= 0 days, got {days}")


class _Stored(BaseModel):
    days: float = Field(ge=0)


@dataclass(frozen=True)
class Retention:
    """A tenant's overrides, in days; None = the configured default applies."""

    files_days: float | None = None
    audit_days: float | None = None

    def days(self, rule: str) -> float | None:
        if rule == FILES:
            return self.files_days
        return self.audit_days if rule == AUDIT else None


class RetentionRepository(Repository):
    def get(self, tr: Transaction, tenant_id: UUID) -> Retention:
        """Both overrides in one read."""
        prefix = self.keys.tenant(tenant_id).retention
        raws = tr.get_many([prefix.key(rule) for rule in RULES])
        files, audit = (self._days(tenant_id, r, raw) for r, raw in zip(RULES, raws, strict=True))
        return Retention(files, audit)

    def set(self, tr: Transaction, tenant_id: UUID, rule: Rule, days: float) -> None:
        """Override one rule's period; InvalidRetention for a negative one."""
        if days < 0:
            raise InvalidRetention(rule, days)
        value = _Stored(days=days).model_dump_json().encode()
        tr.set(self.keys.tenant(tenant_id).retention.key(_known(rule)), value)

    def clear(self, tr: Transaction, tenant_id: UUID, rule: Rule) -> None:
        """Drop one rule's override, so the configured default applies again."""
        tr.clear(self.keys.tenant(tenant_id).retention.key(_known(rule)))

    def _days(self, tenant_id: UUID, rule: Rule, raw: bytes | None) -> float | None:
        if raw is None:
            return None
        what = f"retention override for {rule!r} in tenant {tenant_id}"
        return decode(_Stored, raw, what).days


def _known(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"no retention override for {rule!r}; known: {', '.join(RULES)}")
    return rule
