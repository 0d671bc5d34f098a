"""What the store must hold after the chaos run, computed from the generator's event log alone.

`expect` is plain Python over plain dicts: it shares no code with the handlers or the
repositories, so a bug there cannot hide in both. `observe` reads the store through the
repositories' public queries (what a user of the system sees), `compare` lists differences.

The rules the oracle encodes, from the README's contract:
- a conversation counts each distinct `message_id` once (a re-sent message is not counted twice);
- a session's files are the fold of its `file.changed` events in (`occurred_at`, event id as 16
  bytes) order, whatever order they arrived in: see `fold_files`. Every file record, live or
  gone (soft-deleted), is compared: its path, checksum and deletion, and its id;
- a setting holds its newest value by `occurred_at`;
- every valid event leaves exactly one audit record of a type fixed by the event itself;
- an agent counts each `agent.executed` once, errors separately.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid5

from workers.repositories import Repositories
from workers.store.port import Store, Transaction

PAGE = 1000

FileKey = tuple[str, str, str]  # tenant, session, path
FileState = tuple[str | None, bool]  # checksum, is_deleted
FileIdKey = tuple[str, str, str]  # tenant, session, file id
SettingKey = tuple[str, str, str, str]  # tenant, user, category, key


@dataclass
class State:
    """One side of the comparison; every key is a tuple of strings."""

    conversations: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    files: dict[FileKey, tuple[FileState, ...]] = field(default_factory=dict)  # every record
    file_ids: dict[FileIdKey, tuple[str, str | None, bool]] = field(default_factory=dict)
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


# The system's namespace for ids derived from their parts (a constant of the contract, copied
# here: workers/ids.py); a file made by an event has the id uuid5(namespace, "<tenant>/<event>").
FILE_ID_NAMESPACE = UUID("6f6b1f4e-4a7e-4c1e-9a55-3c1d2b7e9f10")


def file_id(tenant_id: str, event_id: str) -> str:
    """The id of the file an event makes (ids written as lowercase hyphenated UUIDs)."""
    return str(uuid5(FILE_ID_NAMESPACE, f"{UUID(tenant_id)}/{UUID(event_id)}"))


@dataclass
class FileRecord:
    """One file as the fold leaves it: live, or gone (soft-deleted, at the path it left)."""

    id: str
    path: str
    checksum: str | None
    is_deleted: bool = False


def _event_order(body: dict[str, Any]) -> tuple[datetime, bytes]:
    at = datetime.fromisoformat(str(body["occurred_at"]).replace("Z", "+00:00"))
    return at, UUID(body["event_id"]).bytes


def fold_files(tenant_id: str, bodies: list[dict[str, Any]]) -> list[FileRecord]:
    """One (tenant, session)'s `file.changed` events, folded in (occurred_at, event id bytes)
    order: every file record made, in the order made. `live` maps a path to its live file.

    - created / modified P: P's live file takes the event's checksum (if it has one); no live
      file at P: a new one, its id made from the event;
    - deleted P: P's live file is gone (keeps its path and content); none: nothing;
    - accessed: nothing the comparison sees (not even a record: a read of no file is no file);
    - renamed A -> B: A's live file F leaves A. A live file G at B keeps its id and takes F's
      content, and F is gone at A (an editor's atomic save); no file at B: F moves there.
      Nothing live at A: a live file at B is unchanged; none at B: a new one without content,
      its id made from the rename.
    """
    live: dict[str, FileRecord] = {}
    records: list[FileRecord] = []

    def new(path: str, body: dict[str, Any], checksum: str | None) -> None:
        live[path] = FileRecord(file_id(tenant_id, body["event_id"]), path, checksum)
        records.append(live[path])

    for body in sorted(bodies, key=_event_order):
        change, path = body["change"], body["file_path"]
        here = live.get(path)
        if change in ("created", "modified"):
            if here is None:
                new(path, body, body.get("checksum"))
            elif body.get("checksum") is not None:
                here.checksum = body["checksum"]
        elif change == "deleted" and here is not None:
            here.is_deleted = True
            del live[path]
        elif change == "renamed":
            source = live.get(body["previous_path"])
            if source is None:
                if here is None:
                    new(path, body, None)
            elif source is not here:
                del live[source.path]
                if here is None:
                    source.path = path
                    live[path] = source
                else:
                    here.checksum = source.checksum
                    source.is_deleted = True
    return records


def expect(events: list[tuple[str, dict[str, Any]]]) -> State:
    """The state the event log implies, whatever order the workers saw it in."""
    s = State()
    seen_messages: set[tuple[str, str]] = set()
    file_events: dict[tuple[str, str], list[dict[str, Any]]] = {}  # by (tenant, session)
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
            file_events.setdefault((t, body["workspace_session_id"]), []).append(body)
        elif subject == "agent.executed":
            runs, errors = s.agents.get((t, body["agent_id"]), (0, 0))
            s.agents[(t, body["agent_id"])] = (runs + 1, errors + (body["status"] == "error"))
        elif subject == "agent.configured":
            s.agents.setdefault((t, body["agent_id"]), (0, 0))
        elif subject == "setting.changed":
            skey = (t, body["user_id"], body["category"], body["key"])
            setting_events.setdefault(skey, []).append(body)
    for (t, session), bodies in file_events.items():
        records = fold_files(t, bodies)
        for f in records:
            s.file_ids[(t, session, f.id)] = (f.path, f.checksum, f.is_deleted)
        s.files.update(_by_path(t, session, [(f.path, f.checksum, f.is_deleted) for f in records]))
    for skey, bodies in setting_events.items():
        newest = max(bodies, key=_time)
        if not newest.get("deleted"):
            s.settings[skey] = newest.get("value")
    return s


def _by_path(
    tenant: str, session: str, records: list[tuple[str, str | None, bool]]
) -> dict[FileKey, tuple[FileState, ...]]:
    """Records (path, checksum, is_deleted) grouped by path: each path's (checksum, is_deleted)
    pairs in a fixed order, one per record (several gone records may share a path)."""
    out: dict[FileKey, list[FileState]] = {}
    for path, checksum, deleted in records:
        out.setdefault((tenant, session, path), []).append((checksum, deleted))
    return {k: tuple(sorted(v, key=lambda r: (r[0] or "", r[1]))) for k, v in out.items()}


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
            found = []
            for f in await _pages(store, query):
                key = (tenant, session, str(f.id))
                if key in s.file_ids:  # one record listed twice: the session index lies
                    key = (tenant, session, f"{f.id} (listed again)")
                s.file_ids[key] = (f.file_path, f.checksum, f.is_deleted)
                found.append((f.file_path, f.checksum, f.is_deleted))
            s.files.update(_by_path(tenant, session, found))
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
    for name in ("conversations", "files", "file_ids", "audits", "agents", "settings"):
        w, g = getattr(want, name), getattr(got, name)
        keys = set(w) | set(g)
        out.checked[name] = len(keys)
        bad = sorted((k for k in keys if w.get(k) != g.get(k)), key=str)
        for k in bad[:show]:
            out.mismatches.append(f"{name} {k}: expected {w.get(k)!r}, found {g.get(k)!r}")
        if len(bad) > show:
            out.mismatches.append(f"{name}: and {len(bad) - show} more")
    return out
