"""What the store must hold after the chaos run, computed from the generator's event log alone.

`expect` is plain Python over plain dicts: it shares no code with the handlers or the
repositories, so a bug there cannot hide in both. `observe` reads the store through the
repositories' public queries (what a user of the system sees), `compare` lists differences.

The rules the oracle encodes, from the README's contract:
- a conversation counts each distinct `message_id` once (a re-sent message is not counted twice);
- a file ends in the state of its newest event by `occurred_at` (older ones are stale);
- a setting holds its newest value by `occurred_at`;
- every valid event leaves exactly one audit record of a type fixed by the event itself;
- an agent counts each `agent.executed` once, errors separately.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from uuid import UUID

from workers.repositories import Repositories
from workers.store.port import Store, Transaction

PAGE = 1000

FileKey = tuple[str, str, str]  # tenant, session, path
FileState = tuple[str | None, bool]  # checksum, is_deleted
SettingKey = tuple[str, str, str, str]  # tenant, user, category, key


@dataclass
class State:
    """One side of the comparison; every key is a tuple of strings."""

    conversations: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    files: dict[FileKey, FileState] = field(default_factory=dict)
    audits: Counter[tuple[str, str]] = field(default_factory=Counter)
    agents: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    settings: dict[SettingKey, Any] = field(default_factory=dict)
    event_ids: Counter[tuple[str, str]] = field(default_factory=Counter)


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


FILE_AUDIT = {
    "created": "FileCreated",
    "modified": "FileUpdated",
    "renamed": "FileUpdated",
    "deleted": "FileDeleted",
    "accessed": "FileAccessed",
}


def audit_type(subject: str, body: dict[str, Any]) -> str:
    if subject == "message.sent":
        return "MessageSent"
    if subject == "file.changed":
        return FILE_AUDIT[body["change"]]
    if subject == "agent.executed":
        return "AgentError" if body["status"] == "error" else "AgentExecuted"
    if subject == "agent.configured":
        return "AgentConfigured"
    if subject == "conversation.created":
        return "ConversationCreated"
    if subject == "conversation.updated":
        deleted = body.get("status") == "deleted"
        return "ConversationDeleted" if deleted else "ConversationUpdated"
    if subject == "setting.changed":
        return "SettingDeleted" if body.get("deleted") else "SettingChanged"
    prefix, _, snake = subject.partition(".")
    assert prefix == "audit" and re.fullmatch(r"[a-z_]+", snake), subject
    return _camel(snake)


def _time(body: dict[str, Any]) -> str:
    return str(body["occurred_at"])  # one format throughout the workload: sorts as text


def expect(events: list[tuple[str, dict[str, Any]]]) -> State:
    """The state the event log implies, whatever order the workers saw it in."""
    s = State()
    seen_messages: set[tuple[str, str]] = set()
    file_events: dict[FileKey, list[dict[str, Any]]] = {}
    setting_events: dict[SettingKey, list[dict[str, Any]]] = {}
    for subject, body in events:
        t = body["tenant_id"]
        s.event_ids[(t, body["event_id"])] += 1
        s.audits[(t, audit_type(subject, body))] += 1
        if subject == "message.sent":
            conv = (t, body["conversation_id"])
            count, tokens = s.conversations.get(conv, (0, 0))
            if (t, body["message_id"]) not in seen_messages:
                seen_messages.add((t, body["message_id"]))
                count, tokens = count + 1, tokens + (body.get("token_count") or 0)
            s.conversations[conv] = (count, tokens)
        elif subject.startswith("conversation."):
            s.conversations.setdefault((t, body["conversation_id"]), (0, 0))
        elif subject == "file.changed":
            key = (t, body["workspace_session_id"], body["file_path"])
            file_events.setdefault(key, []).append(body)
        elif subject == "agent.executed":
            runs, errors = s.agents.get((t, body["agent_id"]), (0, 0))
            s.agents[(t, body["agent_id"])] = (runs + 1, errors + (body["status"] == "error"))
        elif subject == "agent.configured":
            s.agents.setdefault((t, body["agent_id"]), (0, 0))
        elif subject == "setting.changed":
            skey = (t, body["user_id"], body["category"], body["key"])
            setting_events.setdefault(skey, []).append(body)
    for key, bodies in file_events.items():
        state: FileState = (None, False)
        for body in sorted(bodies, key=_time):
            if body["change"] == "deleted":
                state = (state[0], True)
            elif body["change"] in ("created", "modified"):  # content; either brings it back
                state = (body.get("checksum", state[0]), False)
            # accessed: the file is read, its content and deletion unchanged
        s.files[key] = state
    for skey, bodies in setting_events.items():
        newest = max(bodies, key=_time)
        if not newest.get("deleted"):
            s.settings[skey] = newest.get("value")
    return s


async def _pages(store: Store, query: Any) -> list[Any]:
    items: list[Any] = []
    after: str | None = None
    while True:

        def page(tr: Transaction, a: str | None = after) -> Any:
            return query(tr, a)

        got = await store.read(page)
        items.extend(got.items)
        if got.next is None:
            return items
        after = got.next


async def observe(
    store: Store, repos: Repositories, tenants: list[tuple[str, list[str], list[str]]]
) -> State:
    """The store as the repositories' queries show it. `tenants`: (tenant, users, sessions)."""
    s = State()
    r = repos
    for tenant, users, sessions in tenants:
        t = UUID(tenant)
        convs = await _pages(store, partial(_call, r.conversations.list_by_tenant, t, PAGE))
        for c in convs:
            s.conversations[(tenant, str(c.id))] = (c.message_count, c.token_count)
        for session in sessions:
            query = partial(_call, r.files.list_by_session, t, UUID(session), True, PAGE)
            for f in await _pages(store, query):
                key = (tenant, session, f.file_path)
                if key in s.files:  # two records on one path: the path index lies
                    key = (tenant, session, f"{f.file_path} (again)")
                s.files[key] = (f.checksum, f.is_deleted)
        for a in await _pages(store, partial(_call, r.audit.list_by_date, t, None, None, PAGE)):
            if a.event_id is not None:  # system records (receipts) have none
                s.audits[(tenant, a.event_type.value)] += 1
                s.event_ids[(tenant, str(a.event_id))] += 1
        for ag in await _pages(store, partial(_call, r.agents.list_by_tenant, t, PAGE)):
            s.agents[(tenant, str(ag.id))] = (ag.execution_count, ag.error_count)
        for user in users:
            query = partial(_call, r.settings.get_all, t, UUID(user), None, PAGE)
            for st in await _pages(store, query):
                s.settings[(tenant, user, st.category.value, st.key)] = st.value
    return s


def _call(method: Any, *args: Any) -> Any:
    """`method(tr, *head, after=token)`: `args` is the bound head, then what `_pages` passes."""
    *head, tr, after = args
    return method(tr, *head, after=after)


@dataclass
class Comparison:
    checked: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    lost: int = 0
    applied_twice: int = 0
    applied: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.lost == 0 and self.applied_twice == 0


def compare(want: State, got: State, show: int = 20) -> Comparison:
    out = Comparison()
    out.applied = len(got.event_ids)
    out.lost = sum(1 for k in want.event_ids if k not in got.event_ids)
    out.applied_twice = sum(1 for n in got.event_ids.values() if n > 1)
    extra = sum(1 for k in got.event_ids if k not in want.event_ids)
    if extra:
        out.mismatches.append(f"{extra} audited event ids that were never published as valid")
    for name in ("conversations", "files", "audits", "agents", "settings"):
        w, g = getattr(want, name), getattr(got, name)
        keys = set(w) | set(g)
        out.checked[name] = len(keys)
        bad = sorted((k for k in keys if w.get(k) != g.get(k)), key=str)
        for k in bad[:show]:
            out.mismatches.append(f"{name} {k}: expected {w.get(k)!r}, found {g.get(k)!r}")
        if len(bad) > show:
            out.mismatches.append(f"{name}: and {len(bad) - show} more")
    return out
