"""A damaged value the jobs keep (lease, continuation, override, hold, receipt) stops the run
with an error naming what it is and where, and the run still gives its lease back."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from jobs_support import FakeClock, Seeder, current_lease, days_ago, remaining_audit_ids

from events.audit_types import AuditEventType
from workers.config import Config
from workers.jobs.executor import run_job
from workers.records import Audit
from workers.repositories import CorruptValue, Repositories
from workers.repositories.cursors import Continuation
from workers.store import Store
from workers.store.port import Transaction

GARBAGE = b"\xff{not: json"


async def damage(store: Store, key: bytes, value: bytes = GARBAGE) -> None:
    """Write straight through the store, under the repositories' feet."""

    def put(tr: Transaction) -> None:
        tr.set(key, value)

    await store.transact(put)


@pytest.fixture
async def tenant(seed: Seeder) -> UUID:
    t = uuid4()
    await seed.audits(t, [days_ago(100)] * 3)
    return t


async def test_a_damaged_lease_is_named_and_nothing_is_purged(
    store: Store,
    repos: Repositories,
    settings: Callable[..., Config],
    clock: FakeClock,
    tenant: UUID,
) -> None:
    await damage(store, repos.keys.leases.key("audit"))

    with pytest.raises(CorruptValue, match=r"^stored lease for job 'audit' is not valid: Invalid"):
        await run_job("audit", store, repos, settings(), clock=clock)
    assert len(await remaining_audit_ids(store, repos, tenant)) == 3


@pytest.mark.parametrize("kind", ["continuation", "override", "hold"])
async def test_a_damaged_tenant_value_is_named_and_the_lease_is_given_back(
    store: Store,
    repos: Repositories,
    settings: Callable[..., Config],
    clock: FakeClock,
    tenant: UUID,
    kind: str,
) -> None:
    tk, user = repos.keys.tenant(tenant), uuid4()
    key, what = {
        "continuation": (tk.cursors.key("audit"), "continuation of job 'audit'"),
        "override": (tk.retention.key("audit"), "retention override for 'audit'"),
        "hold": (tk.holds.key("user", user), f"hold on user {user}"),
    }[kind]
    await damage(store, key)

    with pytest.raises(CorruptValue, match=f"^stored {what} in tenant {tenant} is not valid: "):
        await run_job("audit", store, repos, settings(), clock=clock, owner="node-a")
    assert len(await remaining_audit_ids(store, repos, tenant)) == 3
    assert await current_lease(store, repos, "audit") is None


async def test_a_damaged_receipt_found_on_resume_is_named(
    store: Store,
    repos: Repositories,
    settings: Callable[..., Config],
    clock: FakeClock,
    tenant: UUID,
) -> None:
    run_id = uuid4()
    cont = Continuation(run_id=run_id, started_at=clock(), owner="crashed", seq=1, after=b"\x01")
    await store.transact(lambda tr: repos.cursors.save(tr, tenant, "audit", cont))
    not_a_receipt = Audit(
        id=run_id,
        tenant_id=tenant,
        event_type=AuditEventType.DATA_PURGED,
        event_data={"rule": "audit", "removed": "lots"},
        occurred_at=clock(),
    )
    await damage(store, repos.keys.tenant(tenant).audit.key(run_id), not_a_receipt.to_json())

    what = f"stored receipt {run_id} in tenant {tenant} is not valid: "
    with pytest.raises(CorruptValue, match=f"^{what}.*removed: Input should be a valid integer"):
        await run_job("audit", store, repos, settings(), clock=clock)
