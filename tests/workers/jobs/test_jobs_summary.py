"""Summaries: a human-readable report and a JSON one for --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from uuid import uuid4

import pytest
from jobs_support import FakeClock, Seeder, days_ago

from workers.config import Config
from workers.jobs.executor import run_job
from workers.jobs.rules import UnknownJob
from workers.repositories import Repositories
from workers.repositories.retention import InvalidRetention
from workers.store import Store


async def test_a_summary_reads_as_a_report_and_serialises_to_json(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    busy, quiet = uuid4(), uuid4()
    await seed.audits(busy, [days_ago(100)] * 1234)
    await seed.audits(quiet, [days_ago(1)])

    summary = await run_job("audit", store, repos, settings(), clock=clock, owner="node-a")

    first, *tenants = summary.lines()
    assert first.startswith("audit retention: removed 1,234, held back 0, 4 batches, 2 tenants")
    assert f"cutoff {days_ago(90).isoformat()} (90 days)" in first
    assert tenants == [f"  {busy}: removed 1,234, held back 0, 3 batches"]
    data = json.loads(json.dumps(summary.as_dict()))
    assert (data["job"], data["owner"], data["removed"], data["dry_run"]) == (
        "audit",
        "node-a",
        1234,
        False,
    )
    assert {t["tenant"]: t["removed"] for t in data["tenants"]} == {str(busy): 1234, str(quiet): 0}


async def test_an_unknown_job_or_negative_period_is_refused_by_name(
    store: Store, repos: Repositories, settings: Callable[..., Config]
) -> None:
    with pytest.raises(UnknownJob, match=r"'messages'.*files, audit, dedupe"):
        await run_job("messages", store, repos, settings())
    with pytest.raises(InvalidRetention, match="-1"):
        await run_job("audit", store, repos, settings(), older_than_days=-1)
