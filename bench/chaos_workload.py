"""The chaos run's traffic: a seeded, mixed workload over several tenants, and its event log.

Every outgoing message is one of:

- ``event``: a valid event, published once with ``Nats-Msg-Id`` = its ``event_id`` (a publish
  retried after a lost ack is then dropped at JetStream's door);
- ``duplicate``: the exact bytes of an earlier event, published WITHOUT ``Nats-Msg-Id`` so that
  JetStream lets it through and the workers must suppress it;
- ``malformed``: a body the workers must dead-letter (bad JSON, invalid UTF-8, empty, schema
  violations, an unknown subject ...), with a fresh ``Nats-Msg-Id`` so a retry is not doubled.

A re-sent message (a new ``event_id`` for an existing ``message_id``) is an ``event``: it is
applied (audited) but must not be counted twice in its conversation.

File events are the adversarial part. They come in small stories, each in one (tenant,
session): a file edited, read (``accessed``) and maybe deleted, or deleted and created again; a
file renamed a -> b -> c; an editor's atomic saves (new content in ``<path>.tmp~``, renamed onto
the live ``<path>``); two events on one path at the same moment, where the event ids decide. A
story's events are published in shuffled order and spread over the whole stream, so a rename
may arrive before its file's ``created``, a modify after the delete that follows it, and so on:
the store must end as the events' fold in (``occurred_at``, event id) order says, whatever the
arrival order (see ``_file_stories``, and ``chaos_oracle.fold_files`` for the fold).

Plain dicts and the standard library only: the oracle must not share the system's logic.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

AUDIT_SUBJECTS = (
    "audit.user_login",
    "audit.user_logout",
    "audit.token_refresh",
    "audit.unauthorized_access",
    "audit.rate_limit_exceeded",
    "audit.session_created",
    "audit.session_updated",
    "audit.session_deleted",
    "audit.api_error",
    "audit.database_error",
)
CATEGORIES = ("editor", "theme", "llm", "terminal", "workspace")
OVERSIZED_BYTES = 500_000

# Share of the outgoing messages, by kind (they sum to 100).
MIX: dict[str, int] = {
    "message.sent": 38,
    "file.changed": 20,
    "agent.executed": 8,
    "agent.configured": 2,
    "conversation.created": 3,
    "conversation.updated": 3,
    "setting.changed": 6,
    "audit": 15,
    "resent": 1,
    "duplicate": 3,
    "malformed": 1,
}


@dataclass(frozen=True)
class Outgoing:
    subject: str
    data: bytes
    msg_id: str | None
    kind: str  # "event" | "duplicate" | "malformed"
    body: dict[str, Any] | None = None  # the event, for kind == "event"


@dataclass
class Tenant:
    id: str
    users: list[str]
    sessions: list[str]
    conversations: list[str]
    agents: list[str]


@dataclass
class Workload:
    messages: list[Outgoing]
    tenants: list[Tenant]
    oversized: int = 0
    resent: int = 0

    @property
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The valid events, each once, in publish order: what the oracle replays."""
        return [(m.subject, m.body) for m in self.messages if m.kind == "event" and m.body]

    def count(self, kind: str) -> int:
        return sum(1 for m in self.messages if m.kind == kind)

    def kinds(self) -> Counter[str]:
        return Counter(m.kind for m in self.messages)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class _FileEvent:
    tenant: Tenant
    session: str
    path: str
    change: str
    at: datetime
    content: bytes = b""
    previous_path: str | None = None  # for `renamed`: the path the file leaves


@dataclass
class _Builder:
    rng: random.Random
    tenants: list[Tenant]
    out: list[Outgoing] = field(default_factory=list)
    valid: list[Outgoing] = field(default_factory=list)
    messages_sent: list[dict[str, Any]] = field(default_factory=list)
    setting_times: set[tuple[str, str, str, str, int]] = field(default_factory=set)
    oversized: int = 0
    resent: int = 0
    clock_ms: int = 0
    malformed_seq: int = 0

    def at(self) -> datetime:
        """A fresh, strictly increasing moment (distinct times keep "newest wins" well defined)."""
        self.clock_ms += self.rng.randint(1, 50)
        return T0 + timedelta(milliseconds=self.clock_ms)

    def envelope(self, t: Tenant, source: str = "ide", **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_id": _uuid(self.rng),
            "tenant_id": t.id,
            "occurred_at": iso(extra.pop("at", None) or self.at()),
            "user_id": self.rng.choice(t.users),
            "workspace_session_id": self.rng.choice(t.sessions),
            "source": source,
        }
        body.update(extra)
        return body

    def emit(self, subject: str, body: dict[str, Any]) -> None:
        msg = Outgoing(subject, json.dumps(body).encode(), body["event_id"], "event", body)
        self.out.append(msg)
        self.valid.append(msg)

    # -- one builder per kind ------------------------------------------------------------

    def message_sent(self, t: Tenant) -> None:
        oversized = len(self.messages_sent) % 300 == 150  # one message in 300, ~500 KB
        text = f"question {len(self.out)}: why is total() off by a cent? "
        if oversized:
            text = (text * (OVERSIZED_BYTES // len(text) + 1))[:OVERSIZED_BYTES]
        self.oversized += oversized
        body = self.envelope(
            t,
            conversation_id=self.rng.choice(t.conversations),
            message_id=_uuid(self.rng),
            role=self.rng.choice(("user", "assistant", "system")),
            content=text,
            model="claude-sonnet-4-5",
            token_count=self.rng.randint(0, 500),
        )
        self.emit("message.sent", body)
        self.messages_sent.append(body)

    def resent_message(self, t: Tenant) -> None:
        """A producer retry with a new event id: audited again, never counted twice."""
        if not self.messages_sent:
            return self.message_sent(t)
        original = self.rng.choice(self.messages_sent)
        self.resent += 1
        self.emit("message.sent", {**original, "event_id": _uuid(self.rng)})

    def agent_executed(self, t: Tenant) -> None:
        failed = self.rng.random() < 0.15
        body = self.envelope(
            t,
            source="agent-runtime",
            agent_id=self.rng.choice(t.agents),
            status="error" if failed else "success",
            duration_ms=self.rng.randint(10, 20_000),
            model="claude-sonnet-4-5",
            token_count=self.rng.randint(0, 5000),
            memory={
                "facts": {f"fact.{self.rng.randint(0, 20)}": self.rng.randint(0, 9)},
                "decisions": [f"decision {len(self.out)}"],
                "context": {"step": len(self.out)},
            },
        )
        if failed:
            body["error"] = "tool call timed out"
        self.emit("agent.executed", body)

    def agent_configured(self, t: Tenant) -> None:
        body = self.envelope(
            t,
            source="agent-runtime",
            agent_id=self.rng.choice(t.agents),
            name=f"agent {self.rng.randint(0, 99)}",
            agent_type=self.rng.choice(("coordinator", "specialist", "sub_agent")),
            config={"mcp_tools": ["filesystem.read"], "model_preference": "claude-sonnet-4-5"},
            is_active=self.rng.random() < 0.9,
        )
        self.emit("agent.configured", body)

    def conversation(self, t: Tenant, subject: str) -> None:
        fields: dict[str, Any] = {"title": f"thread {self.rng.randint(0, 999)}"}
        if subject == "conversation.updated":
            fields["status"] = self.rng.choice(("active", "archived", "deleted"))
        else:
            fields |= {"status": "active", "ai_provider": "anthropic", "tags": ["chaos"]}
        body = self.envelope(t, conversation_id=self.rng.choice(t.conversations), **fields)
        self.emit(subject, body)

    def setting_changed(self, t: Tenant) -> None:
        user, category = self.rng.choice(t.users), self.rng.choice(CATEGORIES)
        if self.rng.random() < 0.1:  # a delete of a key nobody set: audited, changes nothing
            body = self.envelope(
                t, user_id=user, category=category, key=f"obsolete.{len(self.out)}", deleted=True
            )
            return self.emit("setting.changed", body)
        key = f"{category}.option{self.rng.randint(0, 2)}"
        # out of order on purpose: any time in the hour, distinct per key
        while True:
            ms = self.rng.randint(0, 3_600_000)
            if (t.id, user, category, key, ms) not in self.setting_times:
                self.setting_times.add((t.id, user, category, key, ms))
                break
        value = self.rng.choice([self.rng.randint(0, 100), f"v{ms}", {"size": ms % 30}, True])
        at = T0 + timedelta(milliseconds=ms)
        body = self.envelope(t, at=at, user_id=user, category=category, key=key, value=value)
        self.emit("setting.changed", body)

    def audit(self, t: Tenant) -> None:
        subject = self.rng.choice(AUDIT_SUBJECTS)
        body = self.envelope(
            t,
            ip_address=f"203.0.113.{self.rng.randint(1, 254)}",
            user_agent="ide-desktop/1.42.0",
            event_data={"n": len(self.out), "ok": self.rng.random() < 0.5},
        )
        if subject in ("audit.api_error", "audit.database_error"):
            body |= {"status_code": 500, "error": "upstream failed"}
        self.emit(subject, body)

    def file_changed(self, fe: _FileEvent) -> None:
        body = self.envelope(
            fe.tenant,
            at=fe.at,
            source="file-monitor",
            workspace_session_id=fe.session,
            change=fe.change,
            file_path=fe.path,
        )
        if fe.previous_path is not None:
            body["previous_path"] = fe.previous_path
        if fe.change in ("created", "modified"):
            body |= {
                "file_size": len(fe.content),
                "mime_type": "text/x-python",
                "checksum": hashlib.sha256(fe.content).hexdigest(),
            }
        self.emit("file.changed", body)

    def duplicate(self) -> None:
        """The same bytes again, without Nats-Msg-Id: JetStream lets it through."""
        recent = self.valid[-2000:]
        original = self.rng.choice(recent)
        self.out.append(Outgoing(original.subject, original.data, None, "duplicate"))

    def malformed(self, t: Tenant) -> None:
        self.malformed_seq += 1
        subject, data = malformed_body(self.malformed_seq, self.envelope(t), self.rng)
        self.out.append(Outgoing(subject, data, f"malformed-{_uuid(self.rng)}", "malformed"))


def malformed_body(n: int, envelope: dict[str, Any], rng: random.Random) -> tuple[str, bytes]:
    """One of a dozen ways to be dead-lettered, in turn."""
    msg = {
        **envelope,
        "conversation_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "message_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "role": "user",
        "content": "hello",
    }
    kind = n % 12

    def dumps(body: Any) -> bytes:
        return json.dumps(body).encode()

    if kind == 0:
        return "message.sent", dumps(msg)[:40]  # truncated JSON
    if kind == 1:
        return "message.sent", dumps(msg).replace(b'"hello"', b'"hel\xff\xfelo"')  # bad UTF-8
    if kind == 2:
        return "message.sent", b""
    if kind == 3:
        return "message.sent", dumps({k: v for k, v in msg.items() if k != "conversation_id"})
    if kind == 4:
        return "message.sent", dumps({**msg, "tenant_id": "not-a-uuid"})
    if kind == 5:
        return "message.sent", dumps({**msg, "occurred_at": "2026-11-26T09:00:00"})  # no offset
    if kind == 6:
        return "message.sent", dumps({**msg, "token_count": "many"})
    if kind == 7:
        return "audit.data_purged", dumps(envelope)  # a system type: never from a producer
    if kind == 8:
        return "audit.no_such_thing", dumps(envelope)
    if kind == 9:
        body = {**envelope, "change": "created", "file_path": "x" * 5000}
        return "file.changed", dumps(body)
    if kind == 10:
        return "setting.changed", dumps([envelope])  # an array, not an object
    return "message.sent", dumps(msg).replace(b'"content": "hello"', b'"content": NaN')


@dataclass
class _Story:
    """Related file events in one (tenant, session), written in time order: each a moment
    after the one before (ms resolution, 1 ms to 60 s later), unless `tie` repeats its moment.
    Its paths (`<base>.py`, `<base>_b.py`, `<base>.py.tmp~` ...) belong to no other story."""

    rng: random.Random
    tenant: Tenant
    session: str
    base: str
    clock: datetime
    events: list[_FileEvent] = field(default_factory=list)

    def add(self, change: str, path: str, previous: str | None = None, tie: bool = False) -> None:
        if not tie:
            self.clock += timedelta(milliseconds=self.rng.randint(1, 60_000))
        fe = _FileEvent(self.tenant, self.session, path, change, self.clock, b"", previous)
        if change in ("created", "modified"):
            fe.content = f"{path} v{len(self.events)} {self.rng.random()}".encode()
        self.events.append(fe)

    def touch(self, path: str, n: int) -> None:
        """`n` events on a live file: modifies, with reads (`accessed`) among them."""
        for _ in range(n):
            self.add("accessed" if self.rng.random() < 0.3 else "modified", path)


def _plain(s: _Story, n: int) -> None:
    """created, then modifies and accesses; some files end deleted, some deleted and created
    again (a new file at the path, the old one stays gone)."""
    path, roll = f"{s.base}.py", s.rng.random()
    tail = []
    if n >= 4 and roll < 0.15:
        tail = ["deleted", "created"]
    elif n >= 2 and roll < 0.35:
        tail = ["deleted"]
    s.add("created", path)
    s.touch(path, n - 1 - len(tail))
    for change in tail:
        s.add(change, path)


def _tie(s: _Story, n: int) -> None:
    """Two events on one path at the same moment, so the order of their event ids decides: two
    modifies (whose content stays), or a modify and a delete (a gone file with the modify's
    content, or the old file gone and a new live one made by the modify)."""
    path = f"{s.base}.py"
    s.add("created", path)
    s.add("modified", path)
    second = s.rng.choice(("modified", "deleted"))
    s.add(second, path, tie=True)
    rest = n - 3
    if second == "deleted" and rest:
        s.add("created", path)
        rest -= 1
    s.touch(path, rest)


def _chain(s: _Story, n: int) -> None:
    """A file renamed once or twice (a -> b -> c) with edits between the renames. Some start as
    an untracked file renamed into the workspace (a new file without content), some end deleted,
    and in some a new file is created at the path the first rename left."""
    paths = [f"{s.base}.py", f"{s.base}_b.py", f"{s.base}_c.py"]
    renames = 1 if n < 4 else s.rng.choice((1, 2, 2))
    extra = n - 1 - renames
    deleted = int(extra >= 1 and s.rng.random() < 0.15)
    reused = int(extra - deleted >= 1 and s.rng.random() < 0.15)
    edits = extra - deleted - reused
    if s.rng.random() < 0.15:
        s.add("renamed", paths[0], previous=f"{s.base}.untracked")
    else:
        s.add("created", paths[0])
    done = 0
    for i, cut in enumerate(sorted(s.rng.randint(0, edits) for _ in range(renames))):
        s.touch(paths[i], cut - done)
        done = cut
        s.add("renamed", paths[i + 1], previous=paths[i])
        if reused and i == 0:
            s.add("created", paths[0])
    s.touch(paths[renames], edits - done)
    if deleted:
        s.add("deleted", paths[renames])


def _atomic(s: _Story, n: int) -> None:
    """An editor's atomic saves: the new content is written to `<path>.tmp~`, which is renamed
    onto the live `<path>` (that file keeps its id and takes the content; the temporary file is
    gone, at its own path). Some files are born that way (the first rename finds no file at the
    path and moves the temporary one there); in some, the monitor reports a save's rename twice
    (the second finds the temporary file gone: nothing changes)."""
    path, tmp = f"{s.base}.py", f"{s.base}.py.tmp~"
    head = int(s.rng.random() >= 0.15)  # 0: born by an atomic save
    saves = min(3, (n - head) // 2)
    edits = n - head - 2 * saves
    echo = edits >= 1 and s.rng.random() < 0.2
    edits -= echo
    if head:
        s.add("created", path)
    for i in range(saves):
        s.add("created", tmp)
        s.add("renamed", path, previous=tmp)
        if echo and i == 0:
            s.add("renamed", path, previous=tmp)
        s.touch(path, edits // saves + (i < edits % saves))


Writer = Callable[[_Story, int], None]
STORIES: dict[str, tuple[int, int, Writer]] = {  # kind: (weight, fewest events, writer)
    "plain": (50, 1, _plain),
    "chain": (22, 2, _chain),
    "atomic": (20, 3, _atomic),
    "tie": (8, 3, _tie),
}


def _file_stories(b: _Builder, slots: int) -> list[_FileEvent]:
    """File events that fill `slots`: stories of 2 to 8 events in one (tenant, session), each
    story's events in any order (a rename may come before its file's `created`, a modify after
    the delete it precedes ...), spread over the whole stream: the first in its first half, the
    last in its second half."""
    rng, stories, total, serial = b.rng, [], 0, 0
    kinds, weights = list(STORIES), [w for w, _, _ in STORIES.values()]
    while total < slots:
        serial += 1
        n = min(rng.randint(2, 8), slots - total)
        _, fewest, write = STORIES[rng.choices(kinds, weights)[0]]
        if n < fewest:
            write = _plain
        t = rng.choice(b.tenants)
        start = T0 + timedelta(seconds=rng.randint(0, 3000))
        story = _Story(
            rng, t, rng.choice(t.sessions), f"src/pkg{serial % 17}/module_{serial}", start
        )
        write(story, n)
        assert len(story.events) == n, (write, n)
        rng.shuffle(story.events)
        stories.append(story.events)
        total += n
    placed: list[tuple[float, int, int]] = []
    for p, events in enumerate(stories):
        places = sorted(rng.random() for _ in events)
        if len(places) > 1:
            places[0], places[-1] = places[0] / 2, 0.5 + places[-1] / 2
        placed += [(place, p, i) for i, place in enumerate(sorted(places))]
    placed.sort()
    return [stories[p][i] for _, p, i in placed]


def build_workload(n: int, tenants: int, seed: int = 1) -> Workload:
    """`n` outgoing messages over `tenants` tenants, deterministic for a seed."""
    rng = random.Random(seed)
    per = max(3, n // (tenants * 150))
    population = [
        Tenant(
            id=_uuid(rng),
            users=[_uuid(rng) for _ in range(3)],
            sessions=[_uuid(rng) for _ in range(3)],
            conversations=[_uuid(rng) for _ in range(per)],
            agents=[_uuid(rng) for _ in range(max(2, per // 4))],
        )
        for _ in range(tenants)
    ]
    b = _Builder(rng, population)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    files = iter(_file_stories(b, kinds.count("file.changed")))
    for kind in kinds:
        t = rng.choice(population)
        if kind == "message.sent":
            b.message_sent(t)
        elif kind == "resent":
            b.resent_message(t)
        elif kind == "file.changed":
            b.file_changed(next(files))
        elif kind == "agent.executed":
            b.agent_executed(t)
        elif kind == "agent.configured":
            b.agent_configured(t)
        elif kind in ("conversation.created", "conversation.updated"):
            b.conversation(t, kind)
        elif kind == "setting.changed":
            b.setting_changed(t)
        elif kind == "audit":
            b.audit(t)
        elif kind == "duplicate" and b.valid:
            b.duplicate()
        elif kind == "malformed":
            b.malformed(t)
        else:
            b.message_sent(t)
    return Workload(b.out, population, b.oversized, b.resent)
