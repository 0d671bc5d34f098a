"""The only door to storage: one repository per stored thing, each owning its keys and indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workers.repositories.agents import AgentRepository
from workers.repositories.applied import AppliedEvents
from workers.repositories.audit import AuditRepository
from workers.repositories.base import CleanupResult, CorruptValue, Page, Spec
from workers.repositories.conversations import ConversationRepository
from workers.repositories.cursors import CursorRepository
from workers.repositories.files import FileRepository
from workers.repositories.holds import HoldRepository
from workers.repositories.leases import LeaseRepository
from workers.repositories.messages import MessageRepository
from workers.repositories.retention import RetentionRepository
from workers.repositories.settings import SettingRepository
from workers.repositories.tenants import TenantRegistry
from workers.store.keys import Keys

__all__ = [
    "AgentRepository",
    "AppliedEvents",
    "AuditRepository",
    "CleanupResult",
    "ConversationRepository",
    "CorruptValue",
    "CursorRepository",
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
