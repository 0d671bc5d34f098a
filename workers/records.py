"""Stored records: what the repositories keep, distinct from the events that change them.

Counts on a Conversation live in atomic counters, not in its JSON; the repository fills them in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from events.audit_types import AuditEventType
from events.enums import (
    AgentRunStatus,
    AgentType,
    ConversationStatus,
    MessageRole,
    SettingCategory,
)

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentMemory",
    "AgentRunStatus",
    "AgentType",
    "Audit",
    "AuditEventType",
    "Conversation",
    "ConversationStatus",
    "File",
    "FileHistoryEntry",
    "FileStep",
    "Message",
    "MessageRole",
    "Setting",
    "SettingCategory",
    "legacy_version",
    "version_of",
    "version_time",
]


def version_of(occurred_at: datetime, event_id: UUID) -> str:
    """An event's place in the total order (occurred_at, then event_id) as a string that sorts
    the same way: fixed-width UTC time, then the id's lowercase hex (its bytes' order). Stored
    per field so that a late older event can tell it lost, whatever the arrival order."""
    if occurred_at.tzinfo is not None:
        occurred_at = occurred_at.astimezone(UTC).replace(tzinfo=None)
    return f"{occurred_at.isoformat(timespec='microseconds')}Z {event_id}"


def legacy_version(at: datetime) -> str:
    """The version of a value stored before versions existed: its record's own time, before
    any event of that same moment."""
    return version_of(at, UUID(int=0))


def version_time(version: str) -> datetime:
    """The occurred_at a `version_of` string starts with."""
    return datetime.fromisoformat(version[:26]).replace(tzinfo=UTC)


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    tenant_id: UUID

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, exclude=self._not_stored() or None)

    def _not_stored(self) -> set[str]:
        return set()


class Conversation(Record):
    id: UUID
    user_id: UUID | None = None
    workspace_session_id: UUID | None = None
    status: ConversationStatus = ConversationStatus.ACTIVE
    ai_provider: str | None = None
    title: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    message_count: int = 0
    token_count: int = 0
    related_conversations: list[UUID] = Field(default_factory=list)
    summary: str | None = None
    created_at: datetime
    updated_at: datetime
    versions: dict[str, str] = Field(default_factory=dict)
    """The `version_of` each field's value came from (last writer wins per field); "origin" and
    "user_id"/"workspace_session_id" rank a conversation.created first; "updated_at" is the
    newest conversation event's. Empty in records written before convergence."""

    def _not_stored(self) -> set[str]:
        return {"message_count", "token_count"}


class Message(Record):
    id: UUID
    conversation_id: UUID
    user_id: UUID | None = None
    role: MessageRole
    content: str
    model: str | None = None
    token_count: int = 0
    created_at: datetime


class Audit(Record):
    id: UUID
    event_type: AuditEventType
    user_id: UUID | None = None
    workspace_session_id: UUID | None = None
    event_id: UUID | None = None
    event_data: dict[str, JsonValue] = Field(default_factory=dict)
    ip_address: str | None = None
    user_agent: str | None = None
    occurred_at: datetime


class File(Record):
    id: UUID
    workspace_session_id: UUID
    user_id: UUID | None = None
    file_path: str
    file_size: int | None = None
    mime_type: str | None = None
    checksum: str | None = None
    created_at: datetime
    updated_at: datetime
    last_accessed_at: datetime | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    last_event_at: datetime
    """When the newest event that changed this file occurred (accesses aside)."""
    content_at: datetime | None = None
    """When the event that set the content (size, mime type, checksum) occurred; None: no
    content yet, or a record written before this field."""
    deleted_version: str | None = None
    """The `version_of` the step that made it gone: which of the files gone at one path went
    last, also at equal times. None: live, or deleted outside the history (then `deleted_at`)."""

    def gone_order(self) -> str:
        """Where it sorts among the files gone at its path."""
        if self.deleted_version is not None:
            return self.deleted_version
        return legacy_version(self.deleted_at or self.updated_at)


class FileStep(Record):
    """One change to a session's files as the fold sees it: a file.changed event, or an
    operator's restore (`restored` is then the file brought back). Kept under each path it
    touches, ordered by `version`, until the dedupe horizon."""

    workspace_session_id: UUID
    version: str
    change: str  # created, modified, deleted, accessed, renamed, restored
    file_path: str
    previous_path: str | None = None
    event_id: UUID | None = None
    user_id: UUID | None = None
    occurred_at: datetime
    file_size: int | None = None
    mime_type: str | None = None
    checksum: str | None = None
    restored: File | None = None

    def paths(self) -> tuple[str, ...]:
        """The paths whose state this step can change: a rename's source and destination."""
        if self.previous_path is not None and self.previous_path != self.file_path:
            return (self.previous_path, self.file_path)
        return (self.file_path,)


class FileHistoryEntry(BaseModel):
    """A path's history entry: the step, and the live file at the path once it is applied
    (so a late step re-folds from the entry before it, not from the beginning). `step` None:
    the path's state carried over from before its history began."""

    model_config = ConfigDict(extra="ignore")

    version: str
    step: FileStep | None = None
    after: File | None = None


class AgentConfig(BaseModel):
    mcp_tools: list[str] = Field(default_factory=list)
    a2a_capabilities: list[str] = Field(default_factory=list)
    model_preference: str | None = None


class AgentMemory(BaseModel):
    """Cross-session memory: facts and context merge by key, decisions append."""

    facts: dict[str, JsonValue] = Field(default_factory=dict)
    decisions: list[JsonValue] = Field(default_factory=list)
    context: dict[str, JsonValue] = Field(default_factory=dict)

    def merged(
        self, facts: dict[str, Any], decisions: list[Any], context: dict[str, Any]
    ) -> AgentMemory:
        return AgentMemory(
            facts={**self.facts, **facts},
            decisions=[*self.decisions, *decisions],
            context={**self.context, **context},
        )


class Agent(Record):
    id: UUID
    name: str
    agent_type: AgentType
    config: AgentConfig = Field(default_factory=AgentConfig)
    memory: AgentMemory = Field(default_factory=AgentMemory)
    is_active: bool = True
    execution_count: int = 0
    error_count: int = 0
    last_status: AgentRunStatus | None = None
    last_executed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    versions: dict[str, str] = Field(default_factory=dict)
    """The `version_of` each configured field, memory key ("facts/k", "context/k") and the last
    run came from: last writer wins per field. Empty in records written before convergence."""
    decision_versions: list[str] = Field(default_factory=list)
    """The version of each of `memory.decisions`, sorted: a late run's decisions slot in."""


class Setting(Record):
    user_id: UUID
    category: SettingCategory
    key: str
    value: JsonValue = None
    updated_at: datetime
    version: str | None = None
    """The `version_of` the event that set this value (None: written before convergence)."""
