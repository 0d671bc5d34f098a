"""agent.executed / agent.configured: the Agent, its merged memory, and the audit of each run.

The record is the fold of the agent's events in (occurred_at, event_id) order, whatever order
they arrive in, by the versions kept in `Agent.versions`: each configured field is last writer
wins; memory facts and context are last writer wins per key; decisions stay sorted by their
run's version (`Agent.decision_versions`); the last status is the newest run's. Counts are sums,
`created_at` the earliest event, `updated_at` the newest. An agent.executed may name an agent
nobody configured: its name and type hold only until any agent.configured, whatever its time.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from pydantic import JsonValue

from events import AgentConfigured, AgentExecuted, AgentRunStatus, AgentType, AuditEventType
from workers.handlers.unit import Unit
from workers.records import Agent, AgentConfig, AgentMemory, legacy_version, version_of

EXECUTED, CONFIGURED = "0", "1"  # ranks of a name or type: a configured one beats a run's


def on_agent_executed(unit: Unit, event: AgentExecuted) -> None:
    version = version_of(event.occurred_at, event.event_id)
    failed = event.status == AgentRunStatus.ERROR
    unit.repos.agents.merge(
        unit.tr, event.tenant_id, event.agent_id, lambda cur: _executed(cur, event, version)
    )
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
    version = version_of(event.occurred_at, event.event_id)
    config = AgentConfig.model_validate(event.config.model_dump())
    unit.repos.agents.merge(
        unit.tr,
        event.tenant_id,
        event.agent_id,
        lambda cur: _configured(cur, event, version, config),
    )
    unit.audit(
        event,
        AuditEventType.AGENT_CONFIGURED,
        agent_id=event.agent_id,
        agent_type=event.agent_type.value,
        is_active=event.is_active,
    )


def _executed(current: Agent | None, event: AgentExecuted, version: str) -> Agent:
    agent = current or Agent(
        tenant_id=event.tenant_id,
        id=event.agent_id,
        name=f"agent-{str(event.agent_id)[:8]}",
        agent_type=AgentType.SUB_AGENT,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
    )
    versions = _versions(current)
    update: dict[str, Any] = {}
    ranked = EXECUTED + version
    for f, value in (("name", event.name), ("agent_type", event.agent_type)):
        if value is not None and versions.get(f, "") < ranked:
            versions[f], update[f] = ranked, value
    if event.memory is not None:
        m, old = event.memory, agent.memory
        decisions, decided = _decisions(agent, m.decisions, version)
        update["memory"] = AgentMemory(
            facts=_per_key(old.facts, m.facts, "facts/", versions, version),
            decisions=decisions,
            context=_per_key(old.context, m.context, "context/", versions, version),
        )
        update["decision_versions"] = decided
    if versions.get("last_run", "") < version:
        versions["last_run"] = version
        update["last_status"], update["last_executed_at"] = event.status, event.occurred_at
    failed = event.status == AgentRunStatus.ERROR
    update["execution_count"] = agent.execution_count + 1
    update["error_count"] = agent.error_count + (1 if failed else 0)
    return _timed(agent, update, versions, event.occurred_at)


def _configured(
    current: Agent | None, event: AgentConfigured, version: str, config: AgentConfig
) -> Agent:
    agent = current or Agent(
        tenant_id=event.tenant_id,
        id=event.agent_id,
        name=event.name,
        agent_type=event.agent_type,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
    )
    versions = _versions(current)
    update: dict[str, Any] = {}
    ranked = CONFIGURED + version
    fields = (
        ("name", event.name, ranked),
        ("agent_type", event.agent_type, ranked),
        ("config", config, version),
        ("is_active", event.is_active, version),
    )
    for f, value, v in fields:
        if versions.get(f, "") < v:
            versions[f], update[f] = v, value
    return _timed(agent, update, versions, event.occurred_at)


def _timed(agent: Agent, update: dict[str, Any], versions: dict[str, str], at: Any) -> Agent:
    update["versions"] = versions
    update["created_at"] = min(agent.created_at, at)
    update["updated_at"] = max(agent.updated_at, at)
    return agent.model_copy(update=update)


def _per_key(
    old: dict[str, JsonValue],
    new: dict[str, JsonValue],
    prefix: str,
    versions: dict[str, str],
    version: str,
) -> dict[str, JsonValue]:
    """Facts or context: each key last writer wins."""
    merged = dict(old)
    for k, value in new.items():
        if versions.get(prefix + k, "") < version:
            versions[prefix + k], merged[k] = version, value
    return merged


def _decisions(
    agent: Agent, new: list[JsonValue], version: str
) -> tuple[list[JsonValue], list[str]]:
    """The decisions with a run's slotted in at its version (after any of an equal one)."""
    decisions = list(agent.memory.decisions)
    decided = [""] * (len(decisions) - len(agent.decision_versions)) + agent.decision_versions
    at = bisect_right(decided, version)
    return decisions[:at] + new + decisions[at:], decided[:at] + [version] * len(new) + decided[at:]


def _versions(current: Agent | None) -> dict[str, str]:
    """A copy of the agent's versions; for a record stored before versions, its values count
    as configured at its `updated_at` (any newer event wins, no older one does)."""
    if current is None:
        return {}
    if current.versions:
        return dict(current.versions)
    last = legacy_version(current.updated_at)
    versions = {"name": CONFIGURED + last, "agent_type": CONFIGURED + last}
    versions |= {"config": last, "is_active": last}
    versions |= {"facts/" + k: last for k in current.memory.facts}
    versions |= {"context/" + k: last for k in current.memory.context}
    if current.last_executed_at is not None:
        versions["last_run"] = legacy_version(current.last_executed_at)
    return versions
