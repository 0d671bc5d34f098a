"""agent.executed / agent.configured: the Agent, its merged memory, and the audit of each run."""

from __future__ import annotations

from events import AgentConfigured, AgentExecuted, AgentRunStatus, AgentType, AuditEventType
from workers.handlers.unit import Unit
from workers.records import Agent, AgentConfig


def on_agent_executed(unit: Unit, event: AgentExecuted) -> None:
    repos, tr = unit.repos, unit.tr
    agent = repos.agents.get_by_id(tr, event.tenant_id, event.agent_id)
    known = agent is not None
    if agent is None:  # first run of an agent nobody configured: record it anyway
        agent = Agent(
            tenant_id=event.tenant_id,
            id=event.agent_id,
            name=event.name or f"agent-{str(event.agent_id)[:8]}",
            agent_type=event.agent_type or AgentType.SUB_AGENT,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    failed = event.status == AgentRunStatus.ERROR
    memory = agent.memory
    if event.memory is not None:
        m = event.memory
        memory = memory.merged(dict(m.facts), list(m.decisions), dict(m.context))
    newest = agent.last_executed_at is None or event.occurred_at >= agent.last_executed_at
    agent = agent.model_copy(
        update={
            "memory": memory,
            "execution_count": agent.execution_count + 1,
            "error_count": agent.error_count + (1 if failed else 0),
            "last_status": event.status if newest else agent.last_status,
            "last_executed_at": event.occurred_at if newest else agent.last_executed_at,
            "updated_at": max(agent.updated_at, event.occurred_at),
        }
    )
    (repos.agents.update if known else repos.agents.create)(tr, agent)
    unit.audit(
        event,
        AuditEventType.AGENT_ERROR if failed else AuditEventType.AGENT_EXECUTED,
        agent_id=event.agent_id,
        status=event.status.value,
        duration_ms=event.duration_ms,
        model=event.model,
        token_count=event.token_count,
        error=event.error,
    )


def on_agent_configured(unit: Unit, event: AgentConfigured) -> None:
    repos, tr = unit.repos, unit.tr
    current = repos.agents.get_by_id(tr, event.tenant_id, event.agent_id)
    config = AgentConfig.model_validate(event.config.model_dump())
    if current is None:
        repos.agents.create(
            tr,
            Agent(
                tenant_id=event.tenant_id,
                id=event.agent_id,
                name=event.name,
                agent_type=event.agent_type,
                config=config,
                is_active=event.is_active,
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
            ),
        )
    else:
        update = {
            "name": event.name,
            "agent_type": event.agent_type,
            "config": config,
            "is_active": event.is_active,
            "updated_at": max(current.updated_at, event.occurred_at),
        }
        repos.agents.update(tr, current.model_copy(update=update))
    unit.audit(
        event,
        AuditEventType.AGENT_CONFIGURED,
        agent_id=event.agent_id,
        agent_type=event.agent_type.value,
        is_active=event.is_active,
    )
