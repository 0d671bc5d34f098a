"""Erasures of data subjects: one key per erased user of a tenant, named by a digest of the
user's id (the id itself must not stay in the store), holding the erasure's run id, times and
counts so far. Written before anything is removed: from then on the workers drop the user's
events (`erased_among`), and a killed erasure resumes from it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from workers.repositories.base import Repository
from workers.store.port import Transaction


def subject_digest(tenant_id: UUID, user_id: UUID) -> str:
    """What names an erased user in the store: SHA-256 of tenant and user ids."""
    return hashlib.sha256(f"{tenant_id}:{user_id}".encode()).hexdigest()


class Erasure(BaseModel):
    run_id: UUID
    started_at: datetime
    finished_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    files_after: str | None = None  # the tenant's files scan: where the next page starts
    history_after: str | None = None  # the tenant's file history scan, likewise


class ErasureRepository(Repository):
    def get(self, tr: Transaction, tenant_id: UUID, user_id: UUID) -> Erasure | None:
        key = self.keys.tenant(tenant_id).erasures.key(subject_digest(tenant_id, user_id))
        raw = tr.get(key)
        return None if raw is None else Erasure.model_validate_json(raw)

    def put(self, tr: Transaction, tenant_id: UUID, user_id: UUID, erasure: Erasure) -> None:
        key = self.keys.tenant(tenant_id).erasures.key(subject_digest(tenant_id, user_id))
        tr.set(key, erasure.model_dump_json().encode())

    def erased_among(
        self, tr: Transaction, subjects: list[tuple[UUID, UUID]]
    ) -> dict[tuple[UUID, UUID], UUID]:
        """The (tenant, user)s of `subjects` that are erased (or being erased): their run id.
        One read for a whole batch."""
        if not subjects:
            return {}
        keys = [self.keys.tenant(t).erasures.key(subject_digest(t, u)) for t, u in subjects]
        found = {}
        for subject, raw in zip(subjects, tr.get_many(keys), strict=True):
            if raw is not None:
                found[subject] = Erasure.model_validate_json(raw).run_id
        return found
