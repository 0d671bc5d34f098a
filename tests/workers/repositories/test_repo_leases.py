"""Job leases: one owner at a time until expiry, renewed only by it; a damaged one is named."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from repo_helpers import T0

from workers.repositories import CorruptValue, Repositories
from workers.repositories.leases import Lease, LeaseLost
from workers.store.sqlite import SqliteStore


async def test_a_lease_taken_by_one_owner_is_refused_to_another_until_it_expires(
    store: SqliteStore, repos: Repositories
) -> None:
    taken = await store.transact(lambda tr: repos.leases.acquire(tr, "files", "a", T0, 60))
    assert taken == Lease("files", "a", T0 + timedelta(seconds=60))

    almost = T0 + timedelta(seconds=59)
    refused = await store.transact(lambda tr: repos.leases.acquire(tr, "files", "b", almost, 60))
    assert refused == taken  # b is told who holds it, and nothing changed
    assert await store.read(lambda tr: repos.leases.get(tr, "files")) == taken

    expired = T0 + timedelta(seconds=60)
    over = await store.transact(lambda tr: repos.leases.acquire(tr, "files", "b", expired, 60))
    assert over == Lease("files", "b", expired + timedelta(seconds=60))


async def test_leases_are_per_job_and_the_owner_may_take_its_own_again(
    store: SqliteStore, repos: Repositories
) -> None:
    await store.transact(lambda tr: repos.leases.acquire(tr, "files", "a", T0, 60))
    audit = await store.transact(lambda tr: repos.leases.acquire(tr, "audit", "b", T0, 60))
    later = T0 + timedelta(seconds=30)
    again = await store.transact(lambda tr: repos.leases.acquire(tr, "files", "a", later, 60))

    assert audit.owner == "b"
    assert again == Lease("files", "a", later + timedelta(seconds=60))


async def test_only_the_owner_renews_or_releases_a_lease(
    store: SqliteStore, repos: Repositories
) -> None:
    await store.transact(lambda tr: repos.leases.acquire(tr, "audit", "a", T0, 60))
    later = T0 + timedelta(seconds=50)

    with pytest.raises(LeaseLost, match="lost by b: now held by a"):
        await store.transact(lambda tr: repos.leases.renew(tr, "audit", "b", later, 60))
    renewed = await store.transact(lambda tr: repos.leases.renew(tr, "audit", "a", later, 60))
    assert renewed.expires_at == later + timedelta(seconds=60)

    assert await store.transact(lambda tr: repos.leases.release(tr, "audit", "b")) is False
    assert await store.transact(lambda tr: repos.leases.release(tr, "audit", "a")) is True
    assert await store.read(lambda tr: repos.leases.get(tr, "audit")) is None
    with pytest.raises(LeaseLost, match="now held by nobody"):
        await store.transact(lambda tr: repos.leases.renew(tr, "audit", "a", later, 60))


async def test_a_lease_stored_by_the_previous_code_still_reads(
    store: SqliteStore, repos: Repositories
) -> None:
    old = json.dumps({"owner": "a", "expires_at": T0.isoformat()}).encode()  # json + isoformat
    await store.transact(lambda tr: tr.set(repos.keys.leases.key("dedupe"), old))

    assert await store.read(lambda tr: repos.leases.get(tr, "dedupe")) == Lease("dedupe", "a", T0)


@pytest.mark.parametrize(
    "garbage", [b"\xff\xfe", b'{"owner": "a"}', b'{"owner": 1, "expires_at": "soon"}']
)
async def test_a_damaged_lease_is_named_by_its_job(
    store: SqliteStore, repos: Repositories, garbage: bytes
) -> None:
    await store.transact(lambda tr: tr.set(repos.keys.leases.key("files"), garbage))

    with pytest.raises(CorruptValue, match=r"^stored lease for job 'files' is not valid: "):
        await store.transact(lambda tr: repos.leases.acquire(tr, "files", "a", T0, 60))
