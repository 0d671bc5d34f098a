"""Settings, conversations and agents converge: the stored state is the fold of the events
sorted by (occurred_at, event_id), whatever order they arrive in, with redeliveries.

Everything goes through the real `Ingestor` over SQLite, one event per batch (as a second
worker or a redelivery would deliver them). The property tests compare every read of the three
repositories, the counters and the audit records against the sorted order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from events.audit_types import AuditEventType
from events.enums import AgentType, SettingCategory
from tests.workers.handlers.convergence import (
    AGENTS,
    CONVERSATIONS,
    PROPERTY,
    SESSIONS,
    TENANT,
    USERS,
    Event,
    agent_events,
    apply,
    arrivals,
    converges,
    conversation_events,
    eid,
    ingestor_fixture,  # noqa: F401 (the `ingestor` fixture)
    read,
    setting_events,
)
from tests.workers.ingest.events_factory import envelope, later, message_sent
from workers.ingest.ingestor import Ingestor
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.port import Transaction


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
