"""`make soak`: a steady offered rate for a long time; memory and latency every minute.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 1000] [--workers 1] [--tenants 5]

Starts a local nats-server and W worker OS processes (`python -m workers worker`, as deployed),
then publishes `message.sent` events at a steady offered rate over T tenants and their
conversations. Every minute it prints the RSS of every process (worker(s), nats-server and
itself, from /proc/PID/status) and the latency of that minute; at the end, the final checks.

Latency is publish -> queryable, sampled. Every 100th event is a probe, stamped when its
publish is issued. A sampler thread runs one read transaction every 20 ms that asks the store
(through `repos.messages.get_by_id`) for every outstanding probe, and stamps the first time
each is visible; a thread, so a busy publisher loop never delays that stamp. The figure is what
a user of the query side sees: the JetStream ack, delivery, the batch wait, the commit (fsync)
and the read; its resolution is the 20 ms poll plus the poll's own transaction. Why not
commit+ack on the worker side: that needs the worker instrumented (bench/bench_e2e.py does it
for a fixed run); from outside, publish -> queryable is the honest end-to-end number and needs
nothing in the product. The sampler's reads are read-only transactions (`Store.read`): on
SQLite a WAL snapshot that never takes the write lock, so polling does not hold up the worker.
On a shared machine, the figures include whatever else runs there: the load average is printed
with each minute.

The final checks: publishing stops, the durables drain (consumer info), every probe is visible,
every conversation's message_count and token_count equal what was published, and `check()` is
clean. Exit status 1 if any of them fails. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import nats.errors  # noqa: E402
from nats.js import JetStreamContext  # noqa: E402

from events.subjects import STREAM_EVENTS  # noqa: E402
from workers.config import Config  # noqa: E402
from workers.nats.local_server import LocalNatsServer  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.nats.subscribers import durable_name  # noqa: E402
from workers.repositories import Repositories  # noqa: E402
from workers.repositories.integrity import check  # noqa: E402
from workers.store import Store, open_store  # noqa: E402
from workers.store.port import Transaction  # noqa: E402

PROBE_EVERY = 100
POLL_S = 0.02


def rss_mb(pid: int) -> float | None:
    """The process's resident memory plus its children's (a worker's batch-preparing ones)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                own = int(line.split()[1]) / 1024
                return own + sum(rss_mb(child) or 0.0 for child in children(pid))
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def io_pressure() -> float | None:
    """Share of the last 10 s in which some task waited for I/O (Linux PSI), in %."""
    try:
        return float(Path("/proc/pressure/io").read_text().split()[1].removeprefix("avg10="))
    except (OSError, ValueError, IndexError):
        return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Probe:
    tenant: uuid.UUID
    message: uuid.UUID
    sent: float
    seen: float | None = None
    reported: bool = False  # counted in a minute's line already


@dataclass
class Traffic:
    """What was published: the counts each conversation must end with, and the probes."""

    tenants: list[uuid.UUID]
    conversations: dict[uuid.UUID, list[uuid.UUID]]
    expected: dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int]] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)
    pending: list[Probe] = field(default_factory=list)
    sent: int = 0
    publish_retries: int = 0

    def event(self, rng: random.Random, i: int) -> tuple[uuid.UUID, uuid.UUID, int, bytes]:
        tenant = self.tenants[i % len(self.tenants)]
        conv = rng.choice(self.conversations[tenant])
        message, tokens = uuid.uuid4(), rng.randint(1, 300)
        body = {
            "event_id": str(uuid.uuid4()),
            "tenant_id": str(tenant),
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "user_id": str(uuid.UUID(int=i % 50 + 1)),
            "source": "ide",
            "conversation_id": str(conv),
            "message_id": str(message),
            "role": "user",
            "content": "How should I refactor the auth module? " * 8,
            "model": "claude-sonnet-4-5",
            "token_count": tokens,
        }
        count, total = self.expected.get((tenant, conv), (0, 0))
        self.expected[(tenant, conv)] = (count + 1, total + tokens)
        return tenant, message, tokens, json.dumps(body).encode()


async def publish(js: JetStreamContext, data: bytes, msg_id: str, traffic: Traffic) -> None:
    while True:
        try:
            await js.publish("message.sent", data, timeout=5.0, headers={"Nats-Msg-Id": msg_id})
            return
        except (nats.errors.Error, TimeoutError):
            traffic.publish_retries += 1
            await asyncio.sleep(0.1)


async def offer(
    js: JetStreamContext, traffic: Traffic, sampler: Sampler, rate: float, seconds: float
) -> None:
    """`rate` events a second for `seconds`, each awaited for its PubAck in its own task."""
    rng, tasks = random.Random(1), set()
    start, i = time.monotonic(), 0
    while (now := time.monotonic()) < start + seconds:
        due = int((now - start) * rate)
        while i < due:
            tenant, message, _, data = traffic.event(rng, i)
            if i % PROBE_EVERY == 0:
                sampler.add(Probe(tenant, message, time.monotonic()))
            task = asyncio.create_task(publish(js, data, f"soak-{i}", traffic))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        traffic.sent = i
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)


class Sampler(threading.Thread):
    """Stamps each probe the first time the store shows it: one read transaction per poll, on
    its own thread, so the publisher's event loop being busy never delays the stamp."""

    def __init__(self, store: Store, repos: Repositories, traffic: Traffic) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.store, self.repos, self.traffic = store, repos, traffic
        self.lock = threading.Lock()  # guards traffic.pending (appended by the publisher)
        self.stopping = threading.Event()

    def add(self, probe: Probe) -> None:
        with self.lock:
            self.traffic.probes.append(probe)
            self.traffic.pending.append(probe)

    def outstanding(self) -> int:
        with self.lock:
            return len(self.traffic.pending)

    def visible(self, tr: Transaction, *, probes: list[Probe]) -> list[bool]:
        get = self.repos.messages.get_by_id
        return [get(tr, p.tenant, p.message) is not None for p in probes]

    def run(self) -> None:
        while not (self.stopping.is_set() and not self.outstanding()):
            with self.lock:
                probes = list(self.traffic.pending)
            if probes:
                found = self.store.read_sync(partial(self.visible, probes=probes))
                now = time.monotonic()
                for probe, seen in zip(probes, found, strict=True):
                    if seen:
                        probe.seen = now
                with self.lock:
                    self.traffic.pending = [p for p in self.traffic.pending if p.seen is None]
            time.sleep(POLL_S)


def _counts(repos: Repositories, t: uuid.UUID, c: uuid.UUID, tr: Transaction) -> tuple[int, int]:
    return repos.conversations.counts(tr, t, c)


async def backlog(js: JetStreamContext) -> int:
    info = await js.consumer_info(STREAM_EVENTS, durable_name("messages"), timeout=5.0)
    return int(info.num_pending + info.num_ack_pending)


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.server = LocalNatsServer(work / "nats")
        self.workers: list[subprocess.Popen[bytes]] = []
        self.report: dict[str, Any] = {"minutes": []}

    def start_workers(self) -> None:
        env = {
            **os.environ,
            "NATS_URL": self.server.url,
            "STORE_URL": f"sqlite:///{self.work / 'store.db'}",
            "METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }
        for n in range(self.args.workers):
            with open(self.work / f"worker-{n}.log", "wb") as log:
                cmd = [sys.executable, "-m", "workers", "worker"]
                self.workers.append(
                    subprocess.Popen(cmd, env=env, cwd=self.work, stdout=log, stderr=log)
                )

    def memory(self) -> dict[str, float | None]:
        assert self.server.process is not None
        pids = {f"worker-{n}": p.pid for n, p in enumerate(self.workers)}
        pids |= {"nats-server": self.server.process.pid, "soak": os.getpid()}
        return {name: rss_mb(pid) for name, pid in pids.items()}

    async def minute_report(self, js: JetStreamContext, traffic: Traffic, minute: int) -> None:
        window = [p for p in traffic.probes if p.seen is not None and not p.reported]
        for p in window:
            p.reported = True
        latencies = [((p.seen or 0.0) - p.sent) * 1000 for p in window]
        mem = self.memory()
        line = {
            "minute": minute,
            "sent": traffic.sent,
            "backlog": await backlog(js),
            "probes": len(latencies),
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies), 1) if latencies else None,
            "rss_mb": {k: round(v, 1) if v else None for k, v in mem.items()},
            "load_1m": round(os.getloadavg()[0], 2),
            "io_pressure_pct": io_pressure(),
        }
        self.report["minutes"].append(line)
        rss = ", ".join(f"{k} {v:.0f} MB" for k, v in mem.items() if v)
        print(
            f"minute {minute:>3}: sent {traffic.sent:>9,}  backlog {line['backlog']:>6,}  "
            f"publish->queryable p50 {line['p50_ms']:>6} ms  p99 {line['p99_ms']:>6} ms "
            f"({len(latencies)} probes)  RSS: {rss}  load {line['load_1m']}  "
            f"io-wait {line['io_pressure_pct']}%",
            flush=True,
        )

    async def run(self) -> bool:
        a = self.args
        self.server.start()
        settings = Config(
            nats_url=self.server.url,
            store_url=f"sqlite:///{self.work / 'store.db'}",
            _env_file=None,
        )
        nc = await nats.connect(self.server.url)
        js = nc.jetstream()
        await ensure_streams(js, settings)
        self.start_workers()
        rng = random.Random(7)
        tenants = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(a.tenants)]
        convs = {t: [uuid.UUID(int=rng.getrandbits(128)) for _ in range(20)] for t in tenants}
        traffic = Traffic(tenants, convs)
        store, repos = open_store(settings.store_url), Repositories()
        sampler = Sampler(store, repos, traffic)
        sampler.start()
        print(
            f"soak: {a.rate:,.0f} events/s for {a.minutes} min, {a.workers} worker(s), "
            f"{a.tenants} tenants, into {self.work}",
            flush=True,
        )
        started = time.monotonic()
        publisher = asyncio.create_task(offer(js, traffic, sampler, a.rate, a.minutes * 60))
        for minute in range(1, int(a.minutes) + 1):
            await asyncio.sleep(max(0.0, started + minute * 60 - time.monotonic()))
            await self.minute_report(js, traffic, minute)
        await publisher
        ok = await self.finish(js, store, repos, traffic, sampler)
        await nc.close()
        return ok

    async def finish(
        self,
        js: JetStreamContext,
        store: Store,
        repos: Repositories,
        traffic: Traffic,
        sampler: Sampler,
    ) -> bool:
        failures: list[str] = []
        deadline = time.monotonic() + 300
        while await backlog(js) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if await backlog(js):
            failures.append("the durable did not drain within 300 s")
        sampler.stopping.set()
        await asyncio.to_thread(sampler.join, 60)
        if sampler.is_alive():
            failures.append(f"{sampler.outstanding()} probes never became visible")
        for (t, c), want in traffic.expected.items():
            got = await store.read(partial(_counts, repos, t, c))
            if got != want:
                failures.append(f"conversation {c}: expected {want}, got {got}")
        checked = time.monotonic()
        report = await check(store, repos)
        check_s = time.monotonic() - checked
        await store.close()
        failures += [f"check: {p}" for p in report.problems[:20]]
        latencies = [((p.seen or 0.0) - p.sent) * 1000 for p in traffic.probes if p.seen]
        published = sum(n for n, _ in traffic.expected.values())
        exact = not any(f.startswith("conversation") for f in failures)
        print(
            f"final: published {published:,} ({traffic.publish_retries} publish retries), "
            f"every conversation's counts exact: {exact}, "
            f"check {'clean' if report.clean else 'NOT CLEAN'} ({report.records:,} records, "
            f"{check_s:.0f} s), publish->queryable overall p50 "
            f"{percentile(latencies, 0.5):.1f} ms p99 {percentile(latencies, 0.99):.1f} ms "
            f"(mean {statistics.fmean(latencies) if latencies else float('nan'):.1f} ms)",
            flush=True,
        )
        for f in failures[:20]:
            print(f"  FAILED: {f}")
        self.report |= {
            "published": published,
            "check_clean": report.clean,
            "records": report.records,
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "failures": failures[:20],
            "ok": not failures,
        }
        print(json.dumps({"soak": self.report}))
        return not failures

    def stop(self) -> None:
        for p in self.workers:
            p.terminate()
        for p in self.workers:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, default=1000, help="offered events per second")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--tenants", type=int, default=5)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    soak = Soak(args, work)
    try:
        ok = asyncio.run(soak.run())
    finally:
        soak.stop()
    if args.keep or not ok:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
