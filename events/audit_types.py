"""The audit event types: the 24 of the original design, plus the ones the system writes itself.

The NATS subject of an audit event is `audit.<snake_case>` (`audit.user_login` -> UserLogin).
"""

from __future__ import annotations

import re
from enum import StrEnum


class AuditEventType(StrEnum):
    # authentication and sessions
    USER_LOGIN = "UserLogin"
    USER_LOGOUT = "UserLogout"
    TOKEN_REFRESH = "TokenRefresh"
    UNAUTHORIZED_ACCESS = "UnauthorizedAccess"
    RATE_LIMIT_EXCEEDED = "RateLimitExceeded"
    SESSION_CREATED = "SessionCreated"
    SESSION_UPDATED = "SessionUpdated"
    SESSION_DELETED = "SessionDeleted"
    # files
    FILE_CREATED = "FileCreated"
    FILE_UPDATED = "FileUpdated"
    FILE_DELETED = "FileDeleted"
    FILE_ACCESSED = "FileAccessed"
    # conversations and messages
    CONVERSATION_CREATED = "ConversationCreated"
    CONVERSATION_UPDATED = "ConversationUpdated"
    CONVERSATION_DELETED = "ConversationDeleted"
    MESSAGE_SENT = "MessageSent"
    MESSAGE_DELETED = "MessageDeleted"
    # agents
    AGENT_CONFIGURED = "AgentConfigured"
    AGENT_EXECUTED = "AgentExecuted"
    AGENT_ERROR = "AgentError"
    # settings
    SETTING_CHANGED = "SettingChanged"
    SETTING_DELETED = "SettingDeleted"
    # errors reported by the IDE back end
    API_ERROR = "ApiError"
    DATABASE_ERROR = "DatabaseError"
    # written by the system itself, never accepted from producers
    DATA_PURGED = "DataPurged"
    DATA_DISCARDED = "DataDiscarded"
    FILE_RESTORED = "FileRestored"
    DATA_ERASED = "DataErased"
    ERASED_USER_EVENT_DROPPED = "ErasedUserEventDropped"

    @property
    def snake(self) -> str:
        """`UserLogin` -> `user_login`, the last token of its `audit.*` subject."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.value).lower()


SYSTEM_AUDIT_TYPES = frozenset(
    {
        AuditEventType.DATA_PURGED,
        AuditEventType.DATA_DISCARDED,
        AuditEventType.FILE_RESTORED,
        AuditEventType.DATA_ERASED,
        AuditEventType.ERASED_USER_EVENT_DROPPED,
    }
)
PRODUCER_AUDIT_TYPES = tuple(t for t in AuditEventType if t not in SYSTEM_AUDIT_TYPES)
AUDIT_TYPE_BY_SNAKE = {t.snake: t for t in AuditEventType}
