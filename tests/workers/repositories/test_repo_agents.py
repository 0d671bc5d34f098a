"""AgentRepository: chunked records (memory grows past 100 KB) indexed by agent type."""

from __future__ import annotations

from uuid import UUID, uuid4

from repo_helpers import Make, walk

from events.enums import AgentType
from workers.records import Agent, AgentConfig, AgentMemory
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.sqlite import SqliteStore

COORDINATOR, SPECIALIST = AgentType.COORDINATOR, AgentType.SPECIALIST


async def by_type(
    store: SqliteStore, repos: Repositories, tenant: UUID, agent_type: AgentType
) -> list[Agent]:
    return await walk(
        store, lambda tr, after: repos.agents.list_by_type(tr, tenant, agent_type, 2, after)
    )


async def test_created_agent_reads_back_by_id_and_a_second_create_is_refused(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    agent = make.agent(config=AgentConfig(mcp_tools=["fs.read"], model_preference="qwen"))
    assert await store.transact(lambda tr: repos.agents.create(tr, agent))
    assert not await store.transact(lambda tr: repos.agents.create(tr, agent))
    got = await store.transact(lambda tr: repos.agents.get_by_id(tr, make.tenant_id, agent.id))
    assert got == agent
    assert (
        await store.transact(lambda tr: repos.agents.get_by_id(tr, make.tenant_id, uuid4())) is None
    )


async def test_agents_are_listed_for_the_tenant_and_by_type(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    coordinators = [make.agent() for _ in range(3)]
    specialists = [make.agent(agent_type=SPECIALIST) for _ in range(4)]
    await store.transact(
        lambda tr: [repos.agents.create(tr, a) for a in specialists + coordinators]
    )
    t = make.tenant_id
    everyone = await walk(store, lambda tr, after: repos.agents.list_by_tenant(tr, t, 3, after))
    # listed through the by-type index: grouped by type name, then by id
    expected = sorted(coordinators, key=lambda a: a.id) + sorted(specialists, key=lambda a: a.id)
    assert everyone == expected
    assert await by_type(store, repos, t, SPECIALIST) == sorted(specialists, key=lambda a: a.id)
    assert await by_type(store, repos, t, AgentType.SUB_AGENT) == []


async def test_update_with_a_new_type_moves_the_index_entry(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    agent = make.agent()
    await store.transact(lambda tr: repos.agents.create(tr, agent))
    promoted = agent.model_copy(update={"agent_type": SPECIALIST, "name": "reviewer"})
    assert await store.transact(lambda tr: repos.agents.update(tr, promoted))
    assert await by_type(store, repos, make.tenant_id, COORDINATOR) == []
    assert await by_type(store, repos, make.tenant_id, SPECIALIST) == [promoted]
    ghost = make.agent()
    assert not await store.transact(lambda tr: repos.agents.update(tr, ghost))


async def test_delete_removes_the_record_and_its_index_entry(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    agent = make.agent()
    await store.transact(lambda tr: repos.agents.create(tr, agent))
    t = make.tenant_id
    assert await store.transact(lambda tr: repos.agents.delete(tr, t, agent.id))
    assert not await store.transact(lambda tr: repos.agents.delete(tr, t, agent.id))
    assert await store.transact(lambda tr: repos.agents.get_by_id(tr, t, agent.id)) is None
    assert await by_type(store, repos, t, COORDINATOR) == []


async def test_an_agent_whose_memory_exceeds_100_kb_round_trips_and_shrinks_cleanly(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    memory = AgentMemory(
        facts={f"fact-{i}": "x" * 200 for i in range(600)},
        decisions=[{"step": i, "why": "because ✓"} for i in range(500)],
        context={"repo": "ide", "nested": {"depth": [1, 2, 3]}},
    )
    agent = make.agent(memory=memory)
    assert len(agent.to_json()) > 140_000
    await store.transact(lambda tr: repos.agents.create(tr, agent))
    t = make.tenant_id
    assert await store.transact(lambda tr: repos.agents.get_by_id(tr, t, agent.id)) == agent
    small = agent.model_copy(update={"memory": AgentMemory(facts={"only": 1})})
    await store.transact(lambda tr: repos.agents.update(tr, small))
    chunks = await store.transact(
        lambda tr: tr.get_range(*repos.keys.tenant(t).agents.range(agent.id))
    )
    assert len(chunks) == 1  # the old tail chunks are gone, not read back as garbage
    assert await store.transact(lambda tr: repos.agents.get_by_id(tr, t, agent.id)) == small


async def test_merge_creates_moves_the_type_entry_and_skips_an_unchanged_agent(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    t = make.tenant_id
    agent = make.agent()
    retyped = agent.model_copy(update={"agent_type": SPECIALIST})
    for fold in (lambda cur: agent, lambda cur: retyped, lambda cur: cur):
        await store.transact(lambda tr, f=fold: repos.agents.merge(tr, t, agent.id, f))
    assert await store.read(lambda tr: repos.agents.get_by_id(tr, t, agent.id)) == retyped
    assert await by_type(store, repos, t, COORDINATOR) == []
    assert await by_type(store, repos, t, SPECIALIST) == [retyped]
    assert (await check(store, repos)).clean
