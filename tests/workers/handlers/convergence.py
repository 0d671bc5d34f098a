"""The convergence harness shared by the handler property tests: events through the real
`Ingestor` over SQLite, one per batch, in any arrival order with redeliveries, compared against
the reference order (occurred_at, event_id).

`model_state` reads every setting, conversation and agent read; a test over more models passes
its own `Reads` (see test_convergence_files.py) to `state_after` and `converges`.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from events.audit_types import AuditEventType
from events.enums import AgentType, SettingCategory
from tests.workers.ingest.events_factory import dumps, envelope, later, message_sent
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

TENANT = uuid.UUID(int=7)
USERS = (uuid.UUID(int=1), uuid.UUID(int=2))
SESSIONS = (uuid.UUID(int=11), uuid.UUID(int=12))
CONVERSATIONS = (uuid.UUID(int=21), uuid.UUID(int=22))
AGENTS = (uuid.UUID(int=31), uuid.UUID(int=32))
CATEGORIES = (SettingCategory.EDITOR, SettingCategory.THEME)
KEYS = ("a", "b")
AGENT_TYPES = (AgentType.SPECIALIST, AgentType.COORDINATOR, AgentType.SUB_AGENT)
AUDITED = (
    AuditEventType.SETTING_CHANGED,
    AuditEventType.SETTING_DELETED,
    AuditEventType.CONVERSATION_CREATED,
    AuditEventType.CONVERSATION_UPDATED,
    AuditEventType.CONVERSATION_DELETED,
    AuditEventType.MESSAGE_SENT,
    AuditEventType.AGENT_CONFIGURED,
    AuditEventType.AGENT_EXECUTED,
    AuditEventType.AGENT_ERROR,
)

Event = tuple[str, dict[str, Any]]
Reads = Callable[[Transaction, Repositories], dict[str, Any]]


def eid(n: int) -> str:
    """Event ids that sort as their number: tie-break cases say which one is newer."""
    return str(uuid.UUID(int=n))


async def apply(ingestor: Ingestor, events: Sequence[Event]) -> None:
    """One event per batch, in the order given; a repeated event is a duplicate."""
    seen: set[str] = set()
    for subject, body in events:
        [result] = await ingestor.apply([Incoming(subject, dumps(body))])
        want = Outcome.DUPLICATE if body["event_id"] in seen else Outcome.APPLIED
        assert result.outcome is want, (subject, body, result)
        seen.add(body["event_id"])


def in_time_order(events: Sequence[Event]) -> list[Event]:
    """The reference order: (occurred_at, event_id), the ids compared as their bytes."""
    return sorted(events, key=lambda e: (e[1]["occurred_at"], uuid.UUID(e[1]["event_id"]).bytes))


def dump(items: Any) -> Any:
    return [i.model_dump(mode="json") for i in items]


def dump_one(found: Any) -> Any:
    """A record as JSON, or None."""
    return found and found.model_dump(mode="json")


def audit_records(
    tr: Transaction, repos: Repositories, kinds: Sequence[AuditEventType]
) -> list[tuple[str, str, str]]:
    """(event id, audit type, sorted event data) of every audit record of these types."""
    return sorted(
        (str(a.event_id), a.event_type.value, str(sorted(a.event_data.items())))
        for kind in kinds
        for a in repos.audit.list_by_event(tr, TENANT, kind, limit=1000).items
    )


def model_state(tr: Transaction, repos: Repositories) -> dict[str, Any]:
    """Every read of the three models, the counters, and the audit records per event."""
    t = TENANT
    out: dict[str, Any] = {}
    for user in USERS:
        out[f"settings {user}"] = dump(repos.settings.get_all(tr, t, user, limit=1000).items)
        for c in CATEGORIES:
            for k in KEYS:
                out[f"setting {user} {c} {k}"] = dump_one(repos.settings.get(tr, t, user, c, k))
        out[f"conversations of {user}"] = dump(repos.conversations.list_by_user(tr, t, user).items)
    for c in CATEGORIES:
        out[f"category {c}"] = dump(repos.settings.list_by_category(tr, t, c, 1000).items)
    for s in SESSIONS:
        out[f"session {s}"] = dump(repos.conversations.get_by_session(tr, t, s).items)
    out["conversations"] = dump(repos.conversations.list_by_tenant(tr, t).items)
    for cid in CONVERSATIONS:
        out[f"conversation {cid}"] = dump_one(repos.conversations.get_by_id(tr, t, cid))
        out[f"counts {cid}"] = repos.conversations.counts(tr, t, cid)
    out["agents"] = dump(repos.agents.list_by_tenant(tr, t).items)
    for kind in AGENT_TYPES:
        out[f"agents {kind}"] = dump(repos.agents.list_by_type(tr, t, kind).items)
    for aid in AGENTS:
        out[f"agent {aid}"] = dump_one(repos.agents.get_by_id(tr, t, aid))
    out["audit"] = audit_records(tr, repos, AUDITED)
    return out


@pytest.fixture(name="ingestor")
async def ingestor_fixture(tmp_path: Path) -> AsyncIterator[Ingestor]:
    store = SqliteStore(tmp_path / "converge.db")
    yield Ingestor(store, Repositories())
    await store.close()


async def state_after(
    events: Sequence[Event], where: Path, reads: Reads = model_state
) -> dict[str, Any]:
    """The stored state after applying `events` to a fresh store; its check must be clean."""
    store = SqliteStore(where)
    try:
        ingestor = Ingestor(store, Repositories())
        await apply(ingestor, events)
        report = await check(store, ingestor.repos)
        assert report.clean, report.problems
        return await store.read(lambda tr: reads(tr, ingestor.repos))
    finally:
        await store.close()


async def read(ingestor: Ingestor, fn: Any) -> Any:
    return await ingestor.store.read(lambda tr: fn(tr, ingestor.repos))


# -- generated histories and arrival orders ---------------------------------------------------

minutes = st.integers(0, 2)
ids = st.integers(1, 1 << 64)


@st.composite
def setting_events(draw: st.DrawFn) -> Event:
    extra: dict[str, Any] = (
        {"deleted": True} if draw(st.booleans()) else {"value": draw(st.integers(0, 3))}
    )
    body = envelope(
        TENANT,
        later(draw(minutes)),
        event_id=eid(draw(ids)),
        user=draw(st.sampled_from(USERS)),
        category=draw(st.sampled_from(CATEGORIES)).value,
        key=draw(st.sampled_from(KEYS)),
        **extra,
    )
    return "setting.changed", body


@st.composite
def conversation_events(draw: st.DrawFn) -> Event:
    kind = draw(st.sampled_from(["created", "updated", "message"]))
    common: dict[str, Any] = {
        "event_id": eid(draw(ids)),
        "user": draw(st.sampled_from(USERS)),
        "workspace_session_id": str(draw(st.sampled_from(SESSIONS))),
    }
    cid, at = draw(st.sampled_from(CONVERSATIONS)), later(draw(minutes))
    if kind == "message":
        body = message_sent(TENANT, cid, draw(st.integers(0, 5)), at=at, **common)
        return "message.sent", body | {"event_id": common.pop("event_id")}
    fields = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "title": st.sampled_from(["t1", "t2", None]),
                "status": st.sampled_from(["active", "archived"]),
                "tags": st.lists(st.sampled_from("xy"), max_size=2),
                "summary": st.sampled_from(["s1", "s2"]),
            },
        )
    )
    body = envelope(TENANT, at, conversation_id=str(cid), **common, **fields)
    return f"conversation.{kind}", body


@st.composite
def agent_events(draw: st.DrawFn) -> Event:
    at, n, aid = later(draw(minutes)), eid(draw(ids)), str(draw(st.sampled_from(AGENTS)))
    types = st.sampled_from([t.value for t in AGENT_TYPES])
    if draw(st.booleans()):
        extra = dict(
            name=draw(st.sampled_from(["n1", "n2"])),
            agent_type=draw(types),
            is_active=draw(st.booleans()),
            config={"mcp_tools": draw(st.lists(st.sampled_from("pq"), max_size=2))},
        )
        return "agent.configured", envelope(TENANT, at, event_id=n, agent_id=aid, **extra)
    values = st.integers(0, 3)
    memory = {
        "facts": draw(st.dictionaries(st.sampled_from("fg"), values, max_size=2)),
        "context": draw(st.dictionaries(st.sampled_from("cd"), values, max_size=2)),
        "decisions": draw(st.lists(values, max_size=2)),
    }
    extra = dict(status=draw(st.sampled_from(["success", "error"])), memory=memory)
    if draw(st.booleans()):
        extra |= dict(name=draw(st.sampled_from(["r1", "r2"])), agent_type=draw(types))
    return "agent.executed", envelope(TENANT, at, event_id=n, agent_id=aid, **extra)


def unique(events: list[Event]) -> list[Event]:
    return list({e[1]["event_id"]: e for e in events}.values())


@st.composite
def redelivered(
    draw: st.DrawFn,
    histories: st.SearchStrategy[list[Event]],
    orders: int = 3,
    redeliveries: int = 2,
) -> tuple[list[Event], ...]:
    """A history (events with distinct ids), then `orders` arrival orders of it, each with up
    to `redeliveries` events delivered again after their first delivery."""
    history = unique(draw(histories))
    out = []
    for _ in range(orders):
        order = draw(st.permutations(history))
        if history:
            again = draw(st.lists(st.sampled_from(history), max_size=redeliveries))
            for e in again:  # a redelivery comes after the first delivery
                first = order.index(e)
                order.insert(draw(st.integers(first + 1, len(order))), e)
        out.append(order)
    return (history, *out)


def arrivals(event: st.SearchStrategy[Event]) -> st.SearchStrategy[tuple[list[Event], ...]]:
    """A history of 3 to 8 events, then a few arrival orders of it, with redeliveries."""
    return redelivered(st.lists(event, min_size=3, max_size=8))


PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


async def converges(
    history: list[Event], orders: Sequence[list[Event]], reads: Reads = model_state
) -> dict[str, Any]:
    """Every order's state is the sorted order's (returned); every store checks clean."""
    with tempfile.TemporaryDirectory() as tmp:
        want = await state_after(in_time_order(history), Path(tmp) / "sorted.db", reads)
        for i, order in enumerate(orders):
            assert await state_after(order, Path(tmp) / f"{i}.db", reads) == want, order
    return want
