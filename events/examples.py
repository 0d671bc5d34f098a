"""One realistic payload per subject family, as a producer would publish it.

They tell one story: a user logs in, an agent is configured, a conversation starts, a message is
sent, the agent runs, a file changes, the conversation is retitled and a setting changes.
Event ids are UUIDv7 of their `occurred_at`.
"""

from __future__ import annotations

_TENANT = "9cbf79df-5d0f-41b7-b50a-c65783828293"
_USER = "22c12e8c-a6ad-473a-887d-6b8d1a962560"
_SESSION = "4f1d7e02-a3ab-4f55-a2a1-9f005604f450"
_CONVERSATION = "e5ab31b8-978b-4fc1-a8da-7d33a2d24183"
_AGENT = "b7d7ccb4-4e9b-40d7-a4d6-7457554a36e4"
_IDE = {
    "tenant_id": _TENANT,
    "user_id": _USER,
    "workspace_session_id": _SESSION,
    "source": "ide",
    "ip_address": "203.0.113.42",
    "user_agent": "ide-desktop/1.42.0 (macOS 15.1; arm64)",
}

EXAMPLES: dict[str, dict[str, object]] = {
    "audit.user_login": {
        **_IDE,
        "event_id": "019abf76-6a00-7906-93b6-bdb8b371d2b2",
        "occurred_at": "2025-11-26T09:20:00.000Z",
        "event_data": {"method": "oauth", "provider": "github", "mfa": True},
    },
    "agent.configured": {
        "event_id": "019abf7e-5f3a-78d6-87f5-af1d44ed9b03",
        "tenant_id": _TENANT,
        "user_id": _USER,
        "occurred_at": "2025-11-26T09:28:41.530Z",
        "source": "agent-runtime",
        "agent_id": _AGENT,
        "name": "Refactoring specialist",
        "agent_type": "specialist",
        "config": {
            "mcp_tools": ["filesystem.read", "filesystem.write", "git.diff"],
            "a2a_capabilities": ["code-review"],
            "model_preference": "claude-sonnet-4-5",
        },
        "is_active": True,
    },
    "conversation.created": {
        **_IDE,
        "event_id": "019abf7f-8b26-7926-83b9-8c89d0437fe8",
        "occurred_at": "2025-11-26T09:29:58.310Z",
        "conversation_id": _CONVERSATION,
        "title": "Invoice totals are off by a cent",
        "status": "active",
        "ai_provider": "anthropic",
        "tags": ["billing", "bug"],
    },
    "message.sent": {
        **_IDE,
        "event_id": "019abf7f-9238-7a24-9398-1d5b3ef22069",
        "occurred_at": "2025-11-26T09:30:00.120Z",
        "conversation_id": _CONVERSATION,
        "message_id": "09d479e6-26b0-4d0f-99b5-acaf39657f95",
        "role": "user",
        "content": "Why does `total()` in src/billing/invoice.py round 0.1 + 0.2 wrongly?",
        "model": "claude-sonnet-4-5",
        "token_count": 23,
    },
    "agent.executed": {
        "event_id": "019abf7f-a729-7454-8639-1080165937ee",
        "tenant_id": _TENANT,
        "user_id": _USER,
        "workspace_session_id": _SESSION,
        "occurred_at": "2025-11-26T09:30:05.481Z",
        "source": "agent-runtime",
        "agent_id": _AGENT,
        "status": "success",
        "duration_ms": 5361,
        "model": "claude-sonnet-4-5",
        "token_count": 1874,
        "memory": {
            "facts": {"billing.money_type": "float"},
            "decisions": ["use decimal.Decimal for money"],
            "context": {"conversation_id": _CONVERSATION},
        },
    },
    "file.changed": {
        "event_id": "019abf80-ab07-7f28-87e0-2d143325243b",
        "tenant_id": _TENANT,
        "user_id": _USER,
        "workspace_session_id": _SESSION,
        "occurred_at": "2025-11-26T09:31:12.007Z",
        "source": "file-monitor",
        "change": "modified",
        "file_path": "src/billing/invoice.py",
        "file_size": 79,
        "mime_type": "text/x-python",
        # SHA-256 of the 79 bytes of the file:
        # "def total(items):\n    return sum(item.price * item.quantity for item in items)\n"
        "checksum": "2f1a8ac0be10707ca756f8fc5bee857e4d45a49e6bab38ae17a2275f95d410d0",
    },
    "conversation.updated": {
        **_IDE,
        "event_id": "019abf8a-b8e3-7530-8280-683a684394df",
        "occurred_at": "2025-11-26T09:42:10.915Z",
        "conversation_id": _CONVERSATION,
        "title": "Invoice totals: use Decimal for money",
        "summary": "Totals were summed as floats; the agent switched invoice.py to Decimal.",
        "related_conversations": ["90aae318-7e81-452a-bc36-451a47afd859"],
    },
    "setting.changed": {
        **_IDE,
        "event_id": "019abf8d-cf4e-78a5-b0eb-32776601fabc",
        "occurred_at": "2025-11-26T09:45:33.262Z",
        "category": "editor",
        "key": "editor.formatOnSave",
        "value": True,
    },
}
"""Keyed by subject; audit is shown by `audit.user_login`."""
