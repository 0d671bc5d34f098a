"""The closed vocabularies of the wire contract; every wire value is lowercase."""

from __future__ import annotations

from enum import StrEnum


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class ConversationStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    DELETED = "deleted"


class AgentType(StrEnum):
    COORDINATOR = "coordinator"
    SPECIALIST = "specialist"
    SUB_AGENT = "sub_agent"


class SettingCategory(StrEnum):
    EDITOR = "editor"
    THEME = "theme"
    LLM = "llm"
    TERMINAL = "terminal"
    WORKSPACE = "workspace"


class FileChange(StrEnum):
    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"
    ACCESSED = "accessed"


class AgentRunStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
