"""The only door to storage: one repository per model, each owning its keys and indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workers.repositories.agents import AgentRepository
from workers.repositories.applied import AppliedEvents, TenantRegistry
from workers.repositories.audit import AuditRepository
from workers.repositories.base import Page, Spec
from workers.repositories.conversations import ConversationRepository
from workers.repositories.files import FileRepository
from workers.repositories.messages import MessageRepository
from workers.repositories.settings import SettingRepository
from workers.store.keys import Keys

__all__ = [
    "AgentRepository",
    "AppliedEvents",
    "AuditRepository",
    "ConversationRepository",
    "FileRepository",
    "MessageRepository",
    "Page",
    "Repositories",
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
