"""`make chaos`: a mixed workload under SIGKILLs, a NATS restart and store faults, then proof.

    .venv/bin/python bench/chaos.py [--events N] [--tenants K] [--kills K] [--fault-rate R]
                                    [--seed S] [--workers W] [--rate EVENTS_PER_S]

1. A generator (`chaos_workload`) builds N outgoing messages over K tenants: every subject,
   oversized (500 KB) messages, re-sent message ids, file events in any order (edits, reads,
   deletes and re-creations, rename chains, editors' atomic saves, events at the same moment),
   exact duplicates without `Nats-Msg-Id`, malformed bodies. It keeps the log of valid events.
2. A local nats-server is started; W worker OS processes share the durables and one SQLite file,
   each with `STORE_FAULTS` injecting 1020 and 1021, each at rate R, on its commits.
3. The publisher offers the messages at a steady rate, counting one as done only on its PubAck
   (retrying through the restart). Meanwhile, at random moments of the stream, the harness
   SIGKILLs a random worker and starts another (at least `--kills` times), and restarts
   nats-server once with the same storage directory.
4. When every durable shows num_pending == 0 and num_ack_pending == 0 (with a deadline), the
   workers are stopped and the store is compared with what the event log implies, computed by
   an independent oracle (`chaos_oracle`): conversation counters, every file record (live or
   gone: path, checksum, deletion, id), audit counts per type and tenant, agents, settings, one
   audit record per event (nothing lost, nothing applied twice), the DLQ holding exactly the
   malformed bodies, and the consistency check.

Exit status 0 only if every check passes; the last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import nats.errors  # noqa: E402
from nats.js import JetStreamContext  # noqa: E402

from bench.chaos_oracle import compare, expect, observe  # noqa: E402
from bench.chaos_procs import Publisher, WorkerPool  # noqa: E402
from bench.chaos_workload import Workload, build_workload  # noqa: E402
from events.subjects import (  # noqa: E402
    FAMILIES,
    STREAM_DLQ,
    STREAM_EVENTS,
)
from workers.config import Config  # noqa: E402
from workers.nats.dead_letters import REASON, STREAM_SEQ  # noqa: E402
from workers.nats.local_server import LocalNatsServer  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.nats.subscribers import durable_name  # noqa: E402
from workers.repositories import Repositories  # noqa: E402
from workers.repositories.integrity import check  # noqa: E402
from workers.store import open_store  # noqa: E402

Out = Callable[[str], None]


@dataclass
class ChaosConfig:
    events: int = 20_000
    tenants: int = 3
    kills: int = 6
    fault_rate: float = 0.05  # for 1020 and for 1021 each
    seed: int = 1
    workers: int = 2
    rate: float = 1000.0  # offered events per second
    nats_restarts: int = 1
    batch_size: int = 100
    ack_wait_s: float = 5.0  # a killed worker's messages come back this soon
    drain_timeout_s: float = 300.0


@dataclass
class ChaosResult:
    published: int = 0
    valid: int = 0
    resent_messages: int = 0
    oversized: int = 0
    duplicates_published: int = 0
    malformed: int = 0
    applied: int = 0
    duplicate_outcomes: int = 0
    dead_lettered: int = 0
    dead_letters_total: int = 0
    kills: int = 0
    nats_restarts: int = 0
    worker_crashes: int = 0
    faults_1020: int = 0
    faults_1021: int = 0
    commits: int = 0
    publish_retries: int = 0
    dropped_at_door: int = 0
    lost: int = 0
    applied_twice: int = 0
    check_clean: bool = False
    check_records: int = 0
    drained: bool = False
    seconds: float = 0.0
    checked: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


async def _drained(js: JetStreamContext) -> bool:
    for family in FAMILIES:
        info = await js.consumer_info(STREAM_EVENTS, durable_name(family.name), timeout=2.0)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def wait_drained(js: JetStreamContext, pool: WorkerPool, timeout: float) -> bool:
    """Every durable empty and nothing awaiting an ack, twice in a row half a second apart."""
    deadline, streak = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        pool.reap_crashes()
        try:
            streak = streak + 1 if await _drained(js) else 0
        except (nats.errors.Error, TimeoutError):
            streak = 0  # a consumer not created yet, or NATS still recovering
        if streak >= 2:
            return True
        await asyncio.sleep(0.5)
    return False


Letter = tuple[bytes, dict[str, str]]


async def read_dead_letters(js: JetStreamContext) -> list[Letter]:
    info = await js.stream_info(STREAM_DLQ)
    letters = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else []:
        msg = await js.get_msg(STREAM_DLQ, seq)
        headers = {k: str(v) for k, v in (msg.headers or {}).items()}  # a non-ASCII value is
        letters.append((msg.data or b"", headers))  # an email.header.Header: make it a str
    return letters


class Chaos:
    def __init__(self, cfg: ChaosConfig, work: Path, out: Out) -> None:
        self.cfg, self.work, self.out = cfg, work, out
        self.rng = random.Random(cfg.seed)
        self.server = LocalNatsServer(work / "nats")
        self.result = ChaosResult()

    def settings(self) -> Config:
        return Config(
            nats_url=self.server.url,
            store_url=f"sqlite:///{self.work / 'store.db'}",
            _env_file=None,
        )

    def pool(self) -> WorkerPool:
        cfg, rate = self.cfg, self.cfg.fault_rate
        env = {
            "NATS_URL": self.server.url,
            "STORE_URL": f"sqlite:///{self.work / 'store.db'}",
            "BATCH_SIZE": str(cfg.batch_size),
            "ACK_WAIT_S": str(cfg.ack_wait_s),
            "NAK_DELAY_S": "0.2",
            "LOG_LEVEL": "WARNING",
            "METRICS_PORT": "0",  # two workers on one machine: no port to fight over
        }
        faults = f"1020:{rate},1021:{rate}" if rate > 0 else ""
        return WorkerPool(self.work, env, faults, cfg.seed)

    async def disrupt(self, publisher: Publisher, pool: WorkerPool, total: int) -> None:
        """Kills and NATS restarts at random points of the stream (by messages acked)."""
        cfg, rng = self.cfg, self.rng
        plan = [(rng.uniform(0.05, 0.95), "kill") for _ in range(cfg.kills)]
        plan += [(rng.uniform(0.3, 0.7), "nats") for _ in range(cfg.nats_restarts)]
        for fraction, action in sorted(plan):
            while publisher.acked < fraction * total:
                pool.reap_crashes()
                await asyncio.sleep(0.02)
            where = f"at {publisher.acked:,}/{total:,} published"
            if action == "kill":
                victim = pool.kill_one(rng)
                self.out(f"  SIGKILL worker {victim.serial} (pid {victim.popen.pid}) {where}")
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                pool.start()
            else:
                self.out(f"  restarting nats-server {where}")
                await asyncio.to_thread(self.server.stop)
                await asyncio.sleep(rng.uniform(0.3, 1.0))
                await asyncio.to_thread(self.server.start)
                self.result.nats_restarts += 1

    async def run(self) -> ChaosResult:
        cfg, r, started = self.cfg, self.result, time.monotonic()
        workload = build_workload(cfg.events, cfg.tenants, cfg.seed)
        kinds = workload.kinds()
        r.published, r.valid = len(workload.messages), kinds["event"]
        r.oversized, r.resent_messages = workload.oversized, workload.resent
        r.duplicates_published, r.malformed = kinds["duplicate"], kinds["malformed"]
        self.out(
            f"chaos: {r.published:,} events over {cfg.tenants} tenants, {cfg.workers} workers, "
            f"{cfg.kills} kills, {cfg.nats_restarts} nats restart(s), faults "
            f"1020:{cfg.fault_rate} + 1021:{cfg.fault_rate}, seed {cfg.seed}, in {self.work}"
        )
        self.server.start()
        pool = self.pool()
        try:
            await self._traffic(workload, pool)
        finally:
            problems = pool.stop_all()
            self.server.stop()
        r.failures += problems
        totals = pool.totals()
        r.kills, r.worker_crashes = pool.kills, len(pool.crashes)
        r.duplicate_outcomes, r.commits = totals["duplicates"], totals["commits"]
        r.faults_1020, r.faults_1021 = totals["injected_1020"], totals["injected_1021"]
        r.failures += [f"worker crashed: {c}" for c in pool.crashes]
        await self._verify(workload)
        r.seconds = time.monotonic() - started
        if r.kills < cfg.kills:
            r.failures.append(f"only {r.kills} of {cfg.kills} kills happened")
        return r

    async def _traffic(self, workload: Workload, pool: WorkerPool) -> None:
        r, cfg = self.result, self.cfg

        async def quiet(*_: Any) -> None:
            return None

        nc = await nats.connect(
            self.server.url,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            error_cb=quiet,
            disconnected_cb=quiet,
        )
        try:
            js = nc.jetstream()
            await ensure_streams(js, self.settings())
            for _ in range(cfg.workers):
                pool.start()
            publisher = Publisher(js, cfg.rate)
            total = len(workload.messages)
            await asyncio.gather(
                publisher.run(workload.messages), self.disrupt(publisher, pool, total)
            )
            r.publish_retries, r.dropped_at_door = publisher.retries, publisher.door_duplicates
            self.out(
                f"  published {publisher.acked:,} (acked), {publisher.retries} publish retries "
                f"{dict(publisher.errors)}; waiting for the durables to drain"
            )
            r.drained = await wait_drained(js, pool, cfg.drain_timeout_s)
            if not r.drained:
                r.failures.append(f"durables not drained within {cfg.drain_timeout_s} s")
            self._dead_letters(workload, await read_dead_letters(js))
        finally:
            await nc.close()

    def _dead_letters(self, workload: Workload, letters: list[Letter]) -> None:
        r = self.result
        r.dead_letters_total = len(letters)
        by_seq = {h.get(STREAM_SEQ): data for data, h in letters}
        r.dead_lettered = len(by_seq)
        want = Counter(m.data for m in workload.messages if m.kind == "malformed")
        got = Counter(by_seq.values())
        if want != got:
            unexpected, missing = sum((got - want).values()), sum((want - got).values())
            r.failures.append(
                f"DLQ holds {sum(got.values())} distinct letters for {r.malformed} malformed: "
                f"{unexpected} unexpected, {missing} missing"
            )
        if any(not h.get(REASON) for _, h in letters):
            r.failures.append("a dead letter without a Dlq-Reason")

    async def _verify(self, workload: Workload) -> None:
        r = self.result
        settings = self.settings()
        store, repos = open_store(settings.store_url), Repositories()
        try:
            population = [(t.id, t.users, t.sessions) for t in workload.tenants]
            comparison = compare(expect(workload.events), await observe(store, repos, population))
            report = await check(store, repos)
        finally:
            await store.close()
        r.applied, r.lost, r.applied_twice = (
            comparison.applied,
            comparison.lost,
            comparison.applied_twice,
        )
        r.checked = comparison.checked
        r.failures += comparison.mismatches
        if r.lost:
            r.failures.append(f"{r.lost} events lost")
        if r.applied_twice:
            r.failures.append(f"{r.applied_twice} events applied twice")
        r.check_clean, r.check_records = report.clean, report.records
        r.failures += [f"check: {p}" for p in report.problems[:20]]


def render(r: ChaosResult, cfg: ChaosConfig) -> list[str]:
    faults = r.faults_1020 + r.faults_1021
    share = f"{faults / r.commits:.1%} of {r.commits:,} commits" if r.commits else "no commits"
    lines = [
        f"events published       {r.published:>8,}  (each acked by JetStream; "
        f"{r.publish_retries} retried, {r.dropped_at_door} dropped at the door as re-sent)",
        f"  valid events         {r.valid:>8,}  ({r.resent_messages} re-sent message ids, "
        f"{r.oversized} of ~500 KB)",
        f"  exact duplicates     {r.duplicates_published:>8,}  (same bytes, no Nats-Msg-Id)",
        f"  malformed            {r.malformed:>8,}",
        f"applied                {r.applied:>8,}  (distinct events with their audit record)",
        f"duplicates suppressed  {r.duplicate_outcomes:>8,}  (worker outcomes: published "
        "duplicates, redeliveries after kills, re-runs after 1021)",
        f"dead-lettered          {r.dead_lettered:>8,}  (== malformed: "
        f"{r.dead_lettered == r.malformed}; {r.dead_letters_total - r.dead_lettered} "
        "letters written twice: an ack lost to a kill or the restart)",
        f"kills survived         {r.kills:>8,}  (SIGKILL; {r.worker_crashes} unexpected exits)",
        f"nats restarts          {r.nats_restarts:>8,}",
        f"faults injected        {faults:>8,}  (1020: {r.faults_1020}, 1021: {r.faults_1021}; "
        f"{share}, lower bound)",
        f"lost                   {r.lost:>8,}",
        f"applied twice          {r.applied_twice:>8,}",
        f"consistency check      {'clean' if r.check_clean else 'NOT CLEAN':>8}  "
        f"({r.check_records:,} records)",
        "oracle compared        " + ", ".join(f"{k} {v:,}" for k, v in r.checked.items()),
        f"result                 {'OK' if r.ok else 'FAILED'} in {r.seconds:.0f} s",
    ]
    lines += [f"  FAILED: {f}" for f in r.failures[:40]]
    return lines


async def run_chaos(cfg: ChaosConfig, work: Path, out: Out = print) -> ChaosResult:
    result = await Chaos(cfg, work, out).run()
    for line in render(result, cfg):
        out(line)
    summary = {**asdict(cfg), **asdict(result), "failures": result.failures[:20], "ok": result.ok}
    out(json.dumps({"chaos": summary}))
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    d = ChaosConfig()
    p.add_argument("--events", type=int, default=d.events)
    p.add_argument("--tenants", type=int, default=d.tenants)
    p.add_argument("--kills", type=int, default=d.kills)
    p.add_argument("--fault-rate", type=float, default=d.fault_rate)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--rate", type=float, default=d.rate, help="offered events per second")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    a = p.parse_args()
    cfg = ChaosConfig(
        events=a.events,
        tenants=a.tenants,
        kills=a.kills,
        fault_rate=a.fault_rate,
        seed=a.seed,
        workers=a.workers,
        rate=a.rate,
    )
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    result = asyncio.run(run_chaos(cfg, work))
    if a.keep or not result.ok:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
