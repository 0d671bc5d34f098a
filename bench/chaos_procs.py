"""The chaos run's moving parts: worker OS processes to SIGKILL, and a publisher that retries.

`WorkerPool` starts `bench/chaos_worker.py` processes (the real worker plus a stats file) that
share the durable consumers and one SQLite file, kills them on request, and notices any exit it
did not cause (a crash: restarted, counted, its log kept). `Publisher` offers a steady rate and
counts a publish as done only when JetStream acked it, retrying through a NATS restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats.errors
from nats.js import JetStreamContext

from bench.chaos_workload import Outgoing

WORKER = Path(__file__).resolve().parent / "chaos_worker.py"


@dataclass
class Proc:
    serial: int
    popen: subprocess.Popen[bytes]
    log: Path
    stats: Path
    killed: bool = False


@dataclass
class WorkerPool:
    work: Path
    env: dict[str, str]
    fault_spec: str  # "1020:R,1021:R" (a seed per process is appended) or ""
    seed: int
    procs: list[Proc] = field(default_factory=list)
    kills: int = 0
    crashes: list[str] = field(default_factory=list)

    def start(self) -> Proc:
        serial = len(self.procs)
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        log = self.work / "logs" / f"worker-{serial}.log"
        stats = self.work / "logs" / f"worker-{serial}.json"
        env = {**os.environ, **self.env}
        if self.fault_spec:
            env["STORE_FAULTS"] = f"{self.fault_spec},seed:{self.seed * 1000 + serial}"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, str(WORKER), str(stats)],
                env=env,
                cwd=self.work,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(serial, popen, log, stats)
        self.procs.append(proc)
        return proc

    def live(self) -> list[Proc]:
        return [p for p in self.procs if p.popen.poll() is None]

    def kill_one(self, rng: random.Random) -> Proc:
        victim = rng.choice(self.live())
        victim.killed = True
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait()
        self.kills += 1
        return victim

    def reap_crashes(self, limit: int = 10) -> None:
        """An exit the harness did not cause is a crash: note it, start another (up to `limit`)."""
        for p in self.procs:
            if not p.killed and p.popen.poll() is not None:
                p.killed = True  # handled
                lines = p.log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
                self.crashes.append(
                    f"worker {p.serial} exited {p.popen.returncode}: {lines[-1][:300]} "
                    f"(log: {p.log})"
                )
                if len(self.crashes) > limit:
                    raise RuntimeError(f"{len(self.crashes)} worker crashes: {self.crashes[-1]}")
                self.start()

    def stop_all(self, timeout: float = 30.0) -> list[str]:
        """SIGTERM (graceful: finish, ack, write final stats); SIGKILL past the timeout."""
        problems = []
        for p in self.live():
            p.killed = True
            p.popen.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"worker {p.serial} ignored SIGTERM for {timeout} s")
                p.popen.kill()
                p.popen.wait()
        return problems

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for p in self.procs:
            try:
                data: dict[str, Any] = json.loads(p.stats.read_text())
            except (OSError, ValueError):
                continue  # killed before its first report
            out.update({k: v for k, v in data.items() if isinstance(v, int) and k != "pid"})
        return out


@dataclass
class Publisher:
    js: JetStreamContext
    rate: float
    concurrency: int = 64
    give_up_s: float = 120.0
    acked: int = 0
    door_duplicates: int = 0  # retried publishes JetStream dropped by Nats-Msg-Id
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    async def run(self, messages: list[Outgoing]) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        for i, m in enumerate(messages):
            ahead = start + i / self.rate - time.monotonic()
            if ahead > 0.005:
                await asyncio.sleep(ahead)
            await slots.acquire()
            task = asyncio.create_task(self.send(m))
            tasks.append(task)
            task.add_done_callback(lambda _: slots.release())
        await asyncio.gather(*tasks)

    async def send(self, m: Outgoing) -> None:
        headers = {"Nats-Msg-Id": m.msg_id} if m.msg_id else None
        deadline = time.monotonic() + self.give_up_s
        while True:
            try:
                ack = await self.js.publish(m.subject, m.data, timeout=2.0, headers=headers)
            except (nats.errors.Error, TimeoutError) as e:
                self.retries += 1
                self.errors[type(e).__name__] += 1
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no PubAck for {m.subject} in {self.give_up_s} s") from e
                await asyncio.sleep(0.1)
                continue
            self.acked += 1
            self.door_duplicates += bool(ack.duplicate)
            return
