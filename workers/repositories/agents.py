"""Agents: configuration and cross-session memory, indexed by type."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from events.enums import AgentType
from workers.records import Agent
from workers.repositories.base import (
    DEFAULT_PAGE,
    Index,
    Page,
    Repository,
    Spec,
    diff_indexes,
    last_element,
    read_chunked,
    scan,
    write_chunked,
)
from workers.store.keys import TenantKeys
from workers.store.port import Transaction


class AgentRepository(Repository):
    """Agent records are chunked like messages: memory grows across sessions past 100 KB."""

    def create(self, tr: Transaction, agent: Agent) -> bool:
        tk = self.keys.tenant(agent.tenant_id)
        if tr.get(tk.agents.key(agent.id, 0)) is not None:
            return False
        write_chunked(tr, tk.agents, (agent.id,), agent.to_json(), fresh=True)
        diff_indexes(tr, {}, _entries(tk, agent))
        return True

    def merge(
        self,
        tr: Transaction,
        tenant_id: UUID,
        agent_id: UUID,
        fold: Callable[[Agent | None], Agent],
    ) -> None:
        """Fold an event into an agent (None: not stored yet) with one read; the same object
        back means no change, and nothing is written."""
        tk = self.keys.tenant(tenant_id)
        raw = read_chunked(tr, tk.agents, (agent_id,))
        old = Agent.model_validate_json(raw) if raw is not None else None
        new = fold(old)
        if new is old:
            return
        write_chunked(tr, tk.agents, (agent_id,), new.to_json(), fresh=old is None)
        diff_indexes(tr, _entries(tk, old) if old is not None else {}, _entries(tk, new))

    def get_by_id(self, tr: Transaction, tenant_id: UUID, agent_id: UUID) -> Agent | None:
        raw = read_chunked(tr, self.keys.tenant(tenant_id).agents, (agent_id,))
        return Agent.model_validate_json(raw) if raw is not None else None

    def list_by_tenant(
        self, tr: Transaction, tenant_id: UUID, limit: int = DEFAULT_PAGE, after: str | None = None
    ) -> Page[Agent]:
        tk = self.keys.tenant(tenant_id)
        # Walk the by-type index (one entry per agent) rather than the chunked records.
        rows, nxt = scan(tr, tk.agents_by_type.range(), limit, after)
        return Page(self._load_many(tr, tk, [tk.agents_by_type.tail(k)[-1] for k, _ in rows]), nxt)

    def list_by_type(
        self,
        tr: Transaction,
        tenant_id: UUID,
        agent_type: AgentType,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Agent]:
        tk = self.keys.tenant(tenant_id)
        rows, nxt = scan(tr, tk.agents_by_type.range(agent_type.value), limit, after)
        return Page(self._load_many(tr, tk, [tk.agents_by_type.tail(k)[-1] for k, _ in rows]), nxt)

    def update(self, tr: Transaction, agent: Agent) -> bool:
        tk = self.keys.tenant(agent.tenant_id)
        old = self.get_by_id(tr, agent.tenant_id, agent.id)
        if old is None:
            return False
        write_chunked(tr, tk.agents, (agent.id,), agent.to_json())
        diff_indexes(tr, _entries(tk, old), _entries(tk, agent))
        return True

    def delete(self, tr: Transaction, tenant_id: UUID, agent_id: UUID) -> bool:
        tk = self.keys.tenant(tenant_id)
        old = self.get_by_id(tr, tenant_id, agent_id)
        if old is None:
            return False
        tr.clear_range(*tk.agents.range(agent_id))
        diff_indexes(tr, _entries(tk, old), {})
        return True

    def spec(self) -> Spec[Agent]:
        return Spec(
            name="agents",
            records=lambda tk: tk.agents,
            record_id=lambda tail: tail[:1] if tail[1] == 0 else None,
            load=lambda tr, tk, ident: self.get_by_id(tr, tk.tenant_id, ident[0]),
            entries=_entries,
            indexes=[Index("agents_by_type", lambda tk: tk.agents_by_type, last_element)],
        )

    def _load_many(self, tr: Transaction, tk: TenantKeys, ids: list[UUID]) -> list[Agent]:
        found = (self.get_by_id(tr, tk.tenant_id, i) for i in ids)
        return [a for a in found if a is not None]


def _entries(tk: TenantKeys, a: Agent) -> dict[bytes, bytes]:
    return {tk.agents_by_type.key(a.agent_type.value, a.id): b""}
