"""The only door to storage: one repository per stored thing, each owning its keys and indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from workers.ids import to_ms, utcnow
from workers.repositories.agents import AgentRepository
from workers.repositories.applied import AppliedEvents
from workers.repositories.audit import AuditRepository
from workers.repositories.base import (
    Checkpoint,
    CleanupResult,
    CorruptValue,
    OnBatch,
    Page,
    Phase,
    Spec,
    cleanup_in_batches,
    cutoff_of,
    in_phases,
)
from workers.repositories.conversations import ConversationRepository
from workers.repositories.cursors import CursorRepository
from workers.repositories.erasures import ErasureRepository
from workers.repositories.files import FileRepository
from workers.repositories.holds import HoldRepository
from workers.repositories.leases import LeaseRepository
from workers.repositories.messages import MessageRepository
from workers.repositories.retention import RetentionRepository
from workers.repositories.settings import SettingRepository
from workers.repositories.tenants import TenantRegistry
from workers.store.keys import Keys
from workers.store.port import Store

__all__ = [
    "AgentRepository",
    "AppliedEvents",
    "AuditRepository",
    "CleanupResult",
    "ConversationRepository",
    "CorruptValue",
    "CursorRepository",
    "ErasureRepository",
    "FileRepository",
    "HoldRepository",
    "LeaseRepository",
    "MessageRepository",
    "Page",
    "Repositories",
    "RetentionRepository",
    "SettingRepository",
    "TenantRegistry",
]


@dataclass
class Repositories:
    """All repositories over one key layout, built once and shared."""

    keys: Keys = field(default_factory=Keys)

    def __post_init__(self) -> None:
        self.conversations = ConversationRepository(self.keys)
        self.messages = MessageRepository(self.keys)
        self.audit = AuditRepository(self.keys)
        self.files = FileRepository(self.keys)
        self.agents = AgentRepository(self.keys)
        self.settings = SettingRepository(self.keys)
        self.applied = AppliedEvents(self.keys)
        self.tenants = TenantRegistry(self.keys)
        # what the retention jobs and their operators keep
        self.holds = HoldRepository(self.keys)
        self.leases = LeaseRepository(self.keys)
        self.retention = RetentionRepository(self.keys)
        self.cursors = CursorRepository(self.keys)
        self.erasures = ErasureRepository(self.keys)

    async def cleanup_past_horizon(
        self,
        store: Store,
        tenant_id: UUID,
        horizon_days: float,
        now: datetime | None = None,
        batch: int = 500,
        *,
        dry_run: bool = False,
        resume: CleanupResult | None = None,
        checkpoint: Checkpoint | None = None,
        on_batch: OnBatch | None = None,
    ) -> CleanupResult:
        """The dedupe expiry job's cleanup: what only matters within the redelivery horizon,
        one after another under one cursor: dedupe marks, settings' delete tombstones, and file
        histories (compacted down to the state newer steps re-fold from)."""
        keys = self.keys
        phases = [
            Phase(lambda t: keys.tenant(t).applied_by_ms.raw, self.applied.expire_batch),
            Phase(
                lambda t: keys.tenant(t).setting_tombstones_by_ms.raw,
                self.settings.expire_tombstones,
            ),
            Phase(
                lambda t: keys.tenant(t).file_history_by_ms.raw, self.files.history.compact_batch
            ),
        ]
        cutoff_ms = to_ms(cutoff_of(now or utcnow(), horizon_days))
        return await cleanup_in_batches(
            store,
            in_phases(phases, tenant_id, cutoff_ms, batch, dry_run),
            on_batch,
            resume=resume,
            checkpoint=checkpoint,
            read_only=dry_run,
        )

    def specs(self) -> list[Spec[Any]]:
        """What the consistency check walks: every model with indexes."""
        repos = (
            self.conversations,
            self.messages,
            self.audit,
            self.files,
            self.agents,
            self.settings,
        )
        return [r.spec() for r in repos]
