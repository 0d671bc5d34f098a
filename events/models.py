"""The events, one model per subject family, named as the facts they report.

A limit that pydantic spells (`max_length`, `ge`) reports itself; the others live in
`events.fields`. Both name the field and the limit in the error.
"""

from __future__ import annotations

from typing import Annotated, Self, TypeAlias
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from events.enums import (
    AgentRunStatus,
    AgentType,
    ConversationStatus,
    FileChange,
    MessageRole,
    SettingCategory,
)
from events.envelope import Event
from events.fields import (
    MAX_AUDIT_DATA_BYTES,
    MAX_SETTING_VALUE_BYTES,
    FilePath,
    SettingKey,
    max_json_bytes,
)

__all__ = [
    "AgentConfigPayload",
    "AgentConfigured",
    "AgentExecuted",
    "AgentMemoryUpdate",
    "AnyEvent",
    "AuditReported",
    "ConversationCreated",
    "ConversationUpdated",
    "Event",
    "FileChanged",
    "MessageSent",
    "SettingChanged",
]

ModelName = Annotated[str, Field(max_length=200)]
Tag = Annotated[str, Field(max_length=100)]


class MessageSent(Event):
    """A message was added to a conversation. Published by the IDE on `message.sent`.

    `content` has no length limit: it is stored intact at any size NATS accepts.
    """

    conversation_id: UUID
    message_id: UUID
    role: MessageRole
    content: str
    model: ModelName | None = None
    token_count: int | None = Field(default=None, ge=0, le=10_000_000)


class FileChanged(Event):
    """A file in a workspace session changed. Published by the file monitor on `file.changed`."""

    workspace_session_id: UUID
    change: FileChange
    file_path: FilePath
    previous_path: FilePath | None = Field(default=None, description="Required when renamed.")
    file_size: int | None = Field(default=None, ge=0)
    mime_type: str | None = Field(default=None, max_length=255)
    checksum: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lowercase hex digits."
    )

    @model_validator(mode="after")
    def _renamed_names_previous_path(self) -> Self:
        if self.change is FileChange.RENAMED and self.previous_path is None:
            raise ValueError("previous_path is required when change is renamed")
        return self


class AgentMemoryUpdate(BaseModel):
    """What one agent run learned, merged into the agent's memory. Part of `agent.executed`."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    facts: dict[str, JsonValue] = {}
    decisions: list[JsonValue] = []
    context: dict[str, JsonValue] = {}


class AgentExecuted(Event):
    """An agent finished a run. Published by the agent runtime on `agent.executed`.

    `agent_type` and `name` describe an agent the workers have not been told about yet.
    """

    agent_id: UUID
    status: AgentRunStatus
    duration_ms: int | None = Field(default=None, ge=0)
    model: ModelName | None = None
    token_count: int | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=10_000)
    memory: AgentMemoryUpdate | None = None
    agent_type: AgentType | None = None
    name: str | None = Field(default=None, max_length=200)


class _ConversationFields(Event):
    conversation_id: UUID
    title: str | None = Field(default=None, max_length=1_000)
    description: str | None = Field(default=None, max_length=10_000)
    status: ConversationStatus | None = None
    ai_provider: str | None = Field(default=None, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=100)
    related_conversations: list[UUID] | None = Field(default=None, max_length=1_000)
    summary: str | None = Field(default=None, max_length=20_000)


class ConversationCreated(_ConversationFields):
    """A conversation was started. Published by the IDE on `conversation.created`."""


class ConversationUpdated(_ConversationFields):
    """A conversation was changed. Published by the IDE on `conversation.updated`.

    Only the fields present change (`model_fields_set` tells absent from an explicit null).
    """


class AgentConfigPayload(BaseModel):
    """An agent's configuration. Part of `agent.configured`."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    mcp_tools: list[str] = []
    a2a_capabilities: list[str] = []
    model_preference: str | None = None


class AgentConfigured(Event):
    """An agent was defined or changed. Published by the agent runtime on `agent.configured`."""

    agent_id: UUID
    name: str = Field(min_length=1, max_length=200)
    agent_type: AgentType
    config: AgentConfigPayload = AgentConfigPayload()
    is_active: bool = True


class SettingChanged(Event):
    """A user's setting was set, or deleted. Published by the IDE on `setting.changed`."""

    user_id: UUID
    category: SettingCategory
    key: SettingKey
    value: Annotated[JsonValue, max_json_bytes(MAX_SETTING_VALUE_BYTES)] = Field(
        default=None, description=f"Any JSON; at most {MAX_SETTING_VALUE_BYTES} bytes serialized."
    )
    deleted: bool = False


class AuditReported(Event):
    """Something worth an audit record happened. Published by the IDE on `audit.<snake_case>`.

    The audit type comes from the subject (`audit.user_login` is a UserLogin), not the body.
    `status_code` and `error` describe ApiError and DatabaseError reports.
    """

    event_data: Annotated[dict[str, JsonValue], max_json_bytes(MAX_AUDIT_DATA_BYTES)] = Field(
        default={}, description=f"At most {MAX_AUDIT_DATA_BYTES} bytes serialized."
    )
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=10_000)


AnyEvent: TypeAlias = (
    MessageSent
    | FileChanged
    | AgentExecuted
    | ConversationCreated
    | ConversationUpdated
    | AgentConfigured
    | SettingChanged
    | AuditReported
)
"""Any event a producer may publish."""
