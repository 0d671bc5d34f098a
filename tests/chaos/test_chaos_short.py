"""The chaos run, shortened: 3,000 events over 3 tenants, 5 SIGKILLs, a NATS restart, 5 % faults.

The same harness as `make chaos` (bench/chaos.py): two worker OS processes share the durables,
and the store must end exactly as the independent oracle computes from the event log, file
records included (rename chains, atomic saves, deletes and re-creations, equal times, all
arriving in shuffled order). Marked slow (20-60 s on 2 cores): it still runs in `make test`;
`-m 'not slow'` leaves it out of a quick run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import ChaosConfig, run_chaos


@pytest.mark.slow
async def test_a_short_chaos_run_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    cfg = ChaosConfig(events=3000, tenants=3, kills=5, fault_rate=0.05, rate=250.0, seed=7)
    result = await run_chaos(cfg, tmp_path, out=print)

    assert result.failures == []
    assert result.kills == 5 and result.nats_restarts == 1 and result.worker_crashes == 0
    assert result.lost == 0 and result.applied_twice == 0
    assert result.applied == result.valid
    assert result.dead_lettered == result.malformed > 0
    assert result.faults_1020 > 0 and result.faults_1021 > 0
    assert result.check_clean
