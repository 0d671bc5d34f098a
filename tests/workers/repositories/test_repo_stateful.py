"""Random sequences of repository calls, across two tenants, agree with a plain Python model.

Every operation checks its own return value against the model as it runs; at the end every
query method is compared with the model (paged ones walked with a small limit, so their
continuations are exercised), and the consistency check must find nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import repo_model as rm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo_compare import Compare

from events.enums import AgentType, ConversationStatus
from workers.repositories.integrity import check
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

DAY = 24 * 60

tenants = st.sampled_from(rm.TENANTS)
minutes = st.integers(0, 6 * DAY)  # audit records and deletions spread over a week of days
checksums, paths = st.sampled_from(["a" * 64, "b" * 64]), st.sampled_from(rm.PATHS)
users, sessions = st.sampled_from(rm.USERS), st.sampled_from(rm.SESSIONS)
conversation_ids, file_ids = st.sampled_from(rm.CONVERSATIONS), st.sampled_from(rm.FILES)
agent_types, categories, keys = (
    st.sampled_from(AgentType),
    st.sampled_from(rm.CATEGORIES),
    st.sampled_from(rm.KEYS),
)
rarely = st.sampled_from([False, False, False, True])  # a value past 100 KB, in chunks

operations: st.SearchStrategy[rm.Operation] = st.one_of(
    st.builds(
        rm.CreateConversation,
        tenants,
        conversation_ids,
        st.none() | users,
        st.none() | sessions,
        st.sampled_from(["x", "y"]),
    ),
    st.builds(
        rm.UpdateConversation,
        tenants,
        conversation_ids,
        st.none() | users,
        st.none() | sessions,
        st.sampled_from(ConversationStatus),
        minutes,
    ),
    st.builds(rm.DeleteConversation, tenants, conversation_ids),
    st.builds(
        rm.CreateMessage,
        tenants,
        st.sampled_from(rm.MESSAGES),
        conversation_ids,
        st.integers(0, 1000),
        st.integers(0, 3),
        rarely,
    ),
    st.builds(rm.DeleteMessage, tenants, st.sampled_from(rm.MESSAGES)),
    st.builds(
        rm.CreateAudit,
        tenants,
        st.sampled_from(rm.AUDITS),
        st.sampled_from(rm.AUDIT_TYPES),
        st.none() | users,
        minutes,
    ),
    st.builds(rm.DeleteAudit, tenants, st.sampled_from(rm.AUDITS)),
    st.builds(rm.CleanupAudit, tenants, st.integers(0, 5), minutes, st.integers(1, 3)),
    st.builds(
        rm.CreateFile, tenants, file_ids, sessions, st.sampled_from(rm.PATHS), checksums, minutes
    ),
    st.builds(rm.UpdateFile, tenants, file_ids, st.none() | paths, checksums, minutes),
    st.builds(rm.SoftDeleteFile, tenants, file_ids, minutes),
    st.builds(rm.CleanupFiles, tenants, st.integers(0, 3), minutes, st.integers(1, 3)),
    st.builds(
        rm.CreateAgent,
        tenants,
        st.sampled_from(rm.AGENTS),
        agent_types,
        st.sampled_from(["p", "q"]),
        rarely,
    ),
    st.builds(
        rm.UpdateAgent,
        tenants,
        st.sampled_from(rm.AGENTS),
        agent_types,
        st.sampled_from(["p", "q"]),
        minutes,
    ),
    st.builds(rm.DeleteAgent, tenants, st.sampled_from(rm.AGENTS)),
    st.builds(
        rm.SetSetting,
        tenants,
        users,
        categories,
        keys,
        st.integers(0, 9) | st.sampled_from(["dark", "light"]),
        minutes,
    ),
    st.builds(rm.DeleteSetting, tenants, users, categories, keys),
)


def register_tenants(tr: Transaction) -> None:
    for t in rm.TENANTS:  # what ingestion does per batch; `check()` finds tenants through it
        rm.R.tenants.mark_seen(tr, t)


async def run_and_compare(ops: list[rm.Operation], limit: int, window: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteStore(Path(directory) / "model.db")
        try:
            model: rm.Model = {t: rm.TenantModel() for t in rm.TENANTS}
            await store.transact(register_tenants)
            for op in ops:
                await op.run(store, model)
            for t in rm.TENANTS:
                compare = Compare(store, t, model[t], limit)
                await compare.conversations()
                await compare.messages()
                await compare.audit(*window)
                await compare.files()
                await compare.agents()
                await compare.settings()
            report = await check(store, rm.R)
            assert report.clean, [str(p) for p in report.problems]
            assert report.tenants == len(rm.TENANTS)
        finally:
            await store.close()


@pytest.mark.slow  # 500 examples: about a minute on two cores
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(operations, min_size=10, max_size=60),
    limit=st.integers(1, 3),
    window=st.tuples(minutes, minutes),
)
def test_random_repository_calls_agree_with_a_plain_model_and_leave_the_store_consistent(
    ops: list[rm.Operation], limit: int, window: tuple[int, int]
) -> None:
    asyncio.run(run_and_compare(ops, limit, window))
