"""The wire contract: pydantic models per subject, and the subject and stream names.

Imports pydantic and the standard library only.
"""

from events.audit_types import (
    AUDIT_TYPE_BY_SNAKE,
    PRODUCER_AUDIT_TYPES,
    SYSTEM_AUDIT_TYPES,
    AuditEventType,
)
from events.enums import (
    AgentRunStatus,
    AgentType,
    ConversationStatus,
    FileChange,
    MessageRole,
    SettingCategory,
)
from events.envelope import Event
from events.models import (
    AgentConfigPayload,
    AgentConfigured,
    AgentExecuted,
    AgentMemoryUpdate,
    AnyEvent,
    AuditReported,
    ConversationCreated,
    ConversationUpdated,
    FileChanged,
    MessageSent,
    SettingChanged,
)
from events.subjects import SUBJECT_MODELS, model_for_subject

__all__ = [
    "AUDIT_TYPE_BY_SNAKE",
    "PRODUCER_AUDIT_TYPES",
    "SUBJECT_MODELS",
    "SYSTEM_AUDIT_TYPES",
    "AgentConfigPayload",
    "AgentConfigured",
    "AgentExecuted",
    "AgentMemoryUpdate",
    "AgentRunStatus",
    "AgentType",
    "AnyEvent",
    "AuditEventType",
    "AuditReported",
    "ConversationCreated",
    "ConversationStatus",
    "ConversationUpdated",
    "Event",
    "FileChange",
    "FileChanged",
    "MessageRole",
    "MessageSent",
    "SettingCategory",
    "SettingChanged",
    "model_for_subject",
]
