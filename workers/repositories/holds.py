"""Legal holds: a tenant, a user or a workspace session whose data no purge may remove.

Stored per tenant under `holds`, one key per (kind, subject), the value a `Hold` as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from workers.errors import WorkersError
from workers.repositories.base import Repository, decode
from workers.store.port import Transaction

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


def check_subject(kind: str, subject_id: UUID | None) -> None:
    """A tenant hold names no subject; a user or session hold names one. InvalidHold if not."""
    if kind not in KINDS or (kind == "tenant") != (subject_id is None):
        raise InvalidHold(kind, subject_id)


class HoldRepository(Repository):
    def put(self, tr: Transaction, hold: Hold) -> None:
        """Place a hold, or replace the one on the same subject (its reason and time)."""
        tr.set(
            self._key(hold.tenant_id, hold.kind, hold.subject_id), hold.model_dump_json().encode()
        )

    def delete(
        self, tr: Transaction, tenant_id: UUID, kind: HoldKind, subject_id: UUID | None
    ) -> bool:
        """Lift a hold; False if there was none."""
        key = self._key(tenant_id, kind, subject_id)
        found = tr.get(key) is not None
        tr.clear(key)
        return found

    def list(self, tr: Transaction, tenant_id: UUID) -> list[Hold]:
        """A tenant's holds (an operator places a handful: one read, no paging)."""
        prefix = self.keys.tenant(tenant_id).holds
        out = []
        for key, raw in tr.get_range(*prefix.range()):
            kind, subject = prefix.tail(key)
            out.append(decode(Hold, raw, f"hold on {kind} {subject} in tenant {tenant_id}"))
        return out

    def _key(self, tenant_id: UUID, kind: str, subject_id: UUID | None) -> bytes:
        check_subject(kind, subject_id)
        return self.keys.tenant(tenant_id).holds.key(kind, subject_id)
