"""Settings, conversations and agents converge: the stored state is the fold of the events
sorted by (occurred_at, event_id), whatever order they arrive in, with redeliveries.

Everything goes through the real `Ingestor` over SQLite, one event per batch (as a second
worker or a redelivery would deliver them). The property tests compare every read of the three
repositories, the counters and the audit records against the sorted order.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
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


def eid(n: int) -> str:
    """Event ids that sort as their number: tie-break cases say which one is newer."""
    return str(uuid.UUID(int=n))


def setting(minute: int, n: int, **extra: Any) -> Event:
    body = envelope(TENANT, later(minute), event_id=eid(n), category="editor", key="tab", **extra)
    return "setting.changed", body


def conversation(subject: str, minute: int, n: int, **extra: Any) -> Event:
    body = envelope(
        TENANT, later(minute), event_id=eid(n), conversation_id=str(CONVERSATIONS[0]), **extra
    )
    return f"conversation.{subject}", body


def message(minute: int, n: int, tokens: int = 3, **extra: Any) -> Event:
    body = message_sent(TENANT, CONVERSATIONS[0], tokens, at=later(minute), **extra)
    return "message.sent", body | {"event_id": eid(n)}


def agent(subject: str, minute: int, n: int, **extra: Any) -> Event:
    body = envelope(TENANT, later(minute), event_id=eid(n), agent_id=str(AGENTS[0]), **extra)
    return f"agent.{subject}", body


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


def _dump(items: Any) -> Any:
    return [i.model_dump(mode="json") for i in items]


def _state(tr: Transaction, repos: Repositories) -> dict[str, Any]:
    """Every read of the three models, the counters, and the audit records per event."""
    t = TENANT
    out: dict[str, Any] = {}
    for user in USERS:
        out[f"settings {user}"] = _dump(repos.settings.get_all(tr, t, user, limit=1000).items)
        for c in CATEGORIES:
            for k in KEYS:
                found = repos.settings.get(tr, t, user, c, k)
                out[f"setting {user} {c} {k}"] = found and found.model_dump(mode="json")
        out[f"conversations of {user}"] = _dump(repos.conversations.list_by_user(tr, t, user).items)
    for c in CATEGORIES:
        out[f"category {c}"] = _dump(repos.settings.list_by_category(tr, t, c, 1000).items)
    for s in SESSIONS:
        out[f"session {s}"] = _dump(repos.conversations.get_by_session(tr, t, s).items)
    out["conversations"] = _dump(repos.conversations.list_by_tenant(tr, t).items)
    for cid in CONVERSATIONS:
        found = repos.conversations.get_by_id(tr, t, cid)
        out[f"conversation {cid}"] = found and found.model_dump(mode="json")
        out[f"counts {cid}"] = repos.conversations.counts(tr, t, cid)
    out["agents"] = _dump(repos.agents.list_by_tenant(tr, t).items)
    for kind in AGENT_TYPES:
        out[f"agents {kind}"] = _dump(repos.agents.list_by_type(tr, t, kind).items)
    for aid in AGENTS:
        found = repos.agents.get_by_id(tr, t, aid)
        out[f"agent {aid}"] = found and found.model_dump(mode="json")
    out["audit"] = sorted(
        (str(a.event_id), a.event_type.value, str(sorted(a.event_data.items())))
        for kind in AUDITED
        for a in repos.audit.list_by_event(tr, t, kind, limit=1000).items
    )
    return out


@pytest.fixture
async def ingestor(tmp_path: Path) -> AsyncIterator[Ingestor]:
    store = SqliteStore(tmp_path / "converge.db")
    yield Ingestor(store, Repositories())
    await store.close()


async def state_after(events: Sequence[Event], where: Path) -> dict[str, Any]:
    """The stored state after applying `events` to a fresh store; its check must be clean."""
    store = SqliteStore(where)
    try:
        ingestor = Ingestor(store, Repositories())
        await apply(ingestor, events)
        report = await check(store, ingestor.repos)
        assert report.clean, report.problems
        return await store.read(lambda tr: _state(tr, ingestor.repos))
    finally:
        await store.close()


async def read(ingestor: Ingestor, fn: Any) -> Any:
    return await ingestor.store.read(lambda tr: fn(tr, ingestor.repos))


# -- settings ---------------------------------------------------------------------------------


def tab(tr: Transaction, repos: Repositories) -> Any:
    found = repos.settings.get(tr, TENANT, USERS[0], SettingCategory.EDITOR, "tab")
    return found.value if found else None


async def test_a_late_older_set_does_not_revive_a_deleted_setting(ingestor: Ingestor) -> None:
    await apply(ingestor, [setting(0, 1, value=2), setting(2, 2, deleted=True)])
    await apply(ingestor, [setting(1, 3, value=4)])  # before the delete, arrives after it
    assert await read(ingestor, tab) is None
    listed = await read(
        ingestor, lambda tr, r: r.settings.list_by_category(tr, TENANT, SettingCategory.EDITOR)
    )
    everything = await read(ingestor, lambda tr, r: r.settings.get_all(tr, TENANT, USERS[0]))
    assert (listed.items, everything.items) == ([], [])
    await apply(ingestor, [setting(3, 4, value=8)])  # newer than the tombstone: revives
    assert await read(ingestor, tab) == 8
    assert (await check(ingestor.store, ingestor.repos)).clean


async def test_a_delete_arriving_before_the_set_it_follows_still_deletes(
    ingestor: Ingestor,
) -> None:
    await apply(ingestor, [setting(2, 1, deleted=True), setting(1, 2, value=4)])
    assert await read(ingestor, tab) is None


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
async def test_equal_times_are_broken_by_event_id(
    ingestor: Ingestor, order: tuple[int, int]
) -> None:
    both = [setting(1, 5, value="low id"), setting(1, 9, value="high id")]
    await apply(ingestor, [both[i] for i in order])
    assert await read(ingestor, tab) == "high id"


async def test_the_setting_audit_describes_the_event_alone(ingestor: Ingestor) -> None:
    await apply(ingestor, [setting(2, 1, value=2), setting(1, 2, value=4)])
    page = await read(
        ingestor,
        lambda tr, r: r.audit.list_by_event(tr, TENANT, AuditEventType.SETTING_CHANGED),
    )
    data = {str(a.event_id): a.event_data for a in page.items}
    assert data == {
        eid(1): {"source": "ide", "category": "editor", "key": "tab", "new_value": 2},
        eid(2): {"source": "ide", "category": "editor", "key": "tab", "new_value": 4},
    }


# -- conversations ----------------------------------------------------------------------------


def conv(tr: Transaction, repos: Repositories) -> Any:
    return repos.conversations.get_by_id(tr, TENANT, CONVERSATIONS[0])


async def test_a_late_created_after_messages_sets_the_creation_and_title(
    ingestor: Ingestor,
) -> None:
    user, session = USERS[1], SESSIONS[1]
    await apply(ingestor, [message(2, 1, tokens=5), message(1, 2, tokens=7)])
    early = await read(ingestor, conv)
    assert (early.created_at, early.updated_at, early.title) == (later(1), later(1), None)
    created = conversation(
        "created", 0, 3, title="Refactor", user=user, workspace_session_id=str(session)
    )
    await apply(ingestor, [created])
    c = await read(ingestor, conv)  # messages start a conversation but never move updated_at
    assert (c.created_at, c.updated_at, c.title) == (later(0), later(0), "Refactor")
    assert (c.user_id, c.workspace_session_id) == (user, session)
    assert (c.message_count, c.token_count) == (2, 12)
    by_session = await read(
        ingestor, lambda tr, r: r.conversations.get_by_session(tr, TENANT, session)
    )
    assert [x.id for x in by_session.items] == [CONVERSATIONS[0]]
    assert (await check(ingestor.store, ingestor.repos)).clean


async def test_conversation_fields_are_last_writer_wins_each(ingestor: Ingestor) -> None:
    await apply(
        ingestor,
        [
            conversation("created", 0, 1, title="first"),
            conversation("updated", 3, 2, title="newest", tags=["x"]),
            conversation("updated", 2, 3, title="older", summary="kept", tags=["y"]),
            conversation("updated", 3, 1 << 100, status="archived"),  # same time, higher id
        ],
    )
    c = await read(ingestor, conv)
    assert (c.title, c.tags, c.summary, c.status.value) == ("newest", ["x"], "kept", "archived")
    assert (c.created_at, c.updated_at) == (later(0), later(3))


# -- agents -----------------------------------------------------------------------------------


def the_agent(tr: Transaction, repos: Repositories) -> Any:
    return repos.agents.get_by_id(tr, TENANT, AGENTS[0])


async def test_decisions_and_memory_follow_the_runs_in_time_order(ingestor: Ingestor) -> None:
    run = dict(status="success")
    await apply(
        ingestor,
        [
            agent("executed", 3, 1, **run, memory={"decisions": ["c"], "facts": {"db": "fdb"}}),
            agent("executed", 1, 2, status="error", memory={"decisions": ["a1", "a2"]}),
            agent("executed", 2, 3, **run, memory={"decisions": ["b"], "facts": {"db": "pg"}}),
            agent("configured", 4, 4, name="new", agent_type="specialist"),
            agent("configured", 0, 5, name="old", agent_type="coordinator", is_active=False),
        ],
    )
    a = await read(ingestor, the_agent)
    assert a.memory.decisions == ["a1", "a2", "b", "c"]
    assert a.memory.facts == {"db": "fdb"}
    assert (a.name, a.agent_type, a.is_active) == ("new", AgentType.SPECIALIST, True)
    assert (a.execution_count, a.error_count, a.last_status.value) == (3, 1, "success")
    assert (a.created_at, a.updated_at, a.last_executed_at) == (later(0), later(4), later(3))
    by_type = await read(ingestor, lambda tr, r: r.agents.list_by_type(tr, TENANT, a.agent_type))
    assert [x.id for x in by_type.items] == [AGENTS[0]]


async def test_a_runs_name_holds_only_until_the_agent_is_configured(ingestor: Ingestor) -> None:
    await apply(
        ingestor,
        [
            agent("configured", 0, 1, name="configured", agent_type="coordinator"),
            agent("executed", 5, 2, status="success", name="from a run", agent_type="specialist"),
        ],
    )
    a = await read(ingestor, the_agent)
    assert (a.name, a.agent_type) == ("configured", AgentType.COORDINATOR)


# -- the property: any arrival order, with redeliveries, folds to the sorted order -----------

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
def arrivals(draw: st.DrawFn, event: st.SearchStrategy[Event]) -> tuple[list[Event], ...]:
    """A history, then a few arrival orders of it, each with some events redelivered."""
    history = unique(draw(st.lists(event, min_size=3, max_size=8)))
    orders = []
    for _ in range(3):
        order = draw(st.permutations(history))
        again = draw(st.lists(st.sampled_from(history), max_size=2))
        for e in again:  # a redelivery comes after the first delivery
            first = order.index(e)
            order.insert(draw(st.integers(first + 1, len(order))), e)
        orders.append(order)
    return (history, *orders)


PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


async def converges(history: list[Event], orders: Sequence[list[Event]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        want = await state_after(in_time_order(history), Path(tmp) / "sorted.db")
        for i, order in enumerate(orders):
            assert await state_after(order, Path(tmp) / f"{i}.db") == want, order


@PROPERTY
@given(arrivals(setting_events()))
async def test_settings_converge_in_any_arrival_order(case: tuple[list[Event], ...]) -> None:
    await converges(case[0], case[1:])


@PROPERTY
@given(arrivals(conversation_events()))
async def test_conversations_converge_in_any_arrival_order(case: tuple[list[Event], ...]) -> None:
    await converges(case[0], case[1:])


@PROPERTY
@given(arrivals(agent_events()))
async def test_agents_converge_in_any_arrival_order(case: tuple[list[Event], ...]) -> None:
    await converges(case[0], case[1:])
