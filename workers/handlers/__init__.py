"""Which handler applies each subject of `events.subjects.FAMILIES`. One module per family,
`on_<subject>` each; a test fails while a subject has none."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from events import subjects as s
from workers.handlers.agent_events import on_agent_configured, on_agent_executed
from workers.handlers.audit_events import on_audit_reported
from workers.handlers.conversation_events import on_conversation_created, on_conversation_updated
from workers.handlers.file_events import on_file_changed
from workers.handlers.message_events import on_message_sent
from workers.handlers.setting_events import on_setting_changed
from workers.handlers.unit import Unit

Handler = Callable[[Unit, Any], None]
BatchHandler = Callable[[list[tuple[Unit, Any]]], None]

HANDLERS: dict[str, Handler] = {
    s.AGENT_EXECUTED: on_agent_executed,
    s.AGENT_CONFIGURED: on_agent_configured,
    s.CONVERSATION_CREATED: on_conversation_created,
    s.CONVERSATION_UPDATED: on_conversation_updated,
    s.SETTING_CHANGED: on_setting_changed,
    **{
        subject: partial(on_audit_reported, subject=subject)
        for subject in s.FAMILY_BY_NAME["audit"].subjects
    },
}

BATCH_HANDLERS: dict[str, BatchHandler] = {
    s.MESSAGE_SENT: on_message_sent,
    s.FILE_CHANGED: on_file_changed,
}
"""Subjects whose handler takes a batch's consecutive events together (cheaper, same effects);
every other subject's is in HANDLERS, one event at a time."""

__all__ = ["BATCH_HANDLERS", "HANDLERS", "BatchHandler", "Handler", "Unit"]
