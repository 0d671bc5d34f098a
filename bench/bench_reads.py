"""`make bench-reads`: the reads service under a concurrent ingest, and what it costs the ingest.

    .venv/bin/python bench/bench_reads.py [--seed 10000] [--rate 1000] [--seconds 20]
        [--concurrency 8] [--limit 50]

Every part in its own OS process, as deployed (no two share a GIL): a local nats-server
(JetStream, `sync_interval: always`), a worker (`python -m workers worker`, SQLite), and the
load generators. Settings of the environment (READS_CONCURRENCY, PREPARE_PROCESSES, ...) pass
through to the worker and to `serve-reads`; NATS_URL, STORE_URL and METRICS_PORT are the bench's.

1. Seed: one conversation of SEED `message.sent` events (1 ms apart), published at once; the
   worker drains them (the durable's num_pending and num_ack_pending both 0).
2. Phase A, ingest alone: a publisher process offers RATE events/s for SECONDS into 100 other
   conversations of the same tenant (paced against the clock, PubAcks awaited asynchronously).
3. Phase B, ingest + reads: the same publisher, plus `python -m workers serve-reads` and a reader
   process of CONCURRENCY asyncio requesters paging `reads.messages.list` (LIMIT a page) through
   the seeded conversation with the `next` tokens, as fast as they are answered; each requester
   starts at its own place (tokens found before the window) and starts over at the end.

The ingest rate of a phase: the events published minus the durable's backlog (pending + unacked)
when the publisher is done, over the time from the go signal to then; each phase starts on an
empty backlog. At a fixed offered rate below the worker's capacity that rate moves only when the
worker is behind at the window's end, so the backlog is also sampled every 0.25 s: how far the
worker fell behind during the phase (events, and seconds at RATE). Reads: pages answered per
second over the reader's window, the latency of each request (send to answer, in the reader),
errors by `Nats-Service-Error-Code` (or `timeout`, `no_responders`). Where the time goes: CPU
seconds of each process over the phase and the bytes the worker and nats-server wrote to disk
(/proc, children included: the worker's preparing processes), the share of the phase in which
some task of the machine waited for I/O (Linux PSI), the size of the SQLite WAL file. Measured,
never asserted: the ≤ 10 % ingest cost target is printed as met or not. The last line printed
is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import nats.errors  # noqa: E402
import nats.js.errors  # noqa: E402
from naive_baseline import message_sent as naive_message_sent  # noqa: E402
from nats.aio.client import Client  # noqa: E402
from nats.js import JetStreamContext  # noqa: E402

from events.subjects import MESSAGE_SENT, STREAM_EVENTS  # noqa: E402
from workers.config import Config  # noqa: E402
from workers.nats.local_server import LocalNatsServer  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.nats.subscribers import durable_name  # noqa: E402

LIST = "reads.messages.list"
COUNT = "reads.messages.token_count"
ERROR_CODE = "Nats-Service-Error-Code"
TARGET_PCT = 10.0  # the bound on what the reads may cost the ingest rate
INGEST_CONVERSATIONS = 100
BACKLOG_POLL_S = 0.25
READY_S = 60.0  # a process connected (or a worker's durable drained of the seed) by then
DRAIN_S = 300.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def message_sent(tenant: str, conversation: str, user: str, at: datetime) -> bytes:
    """bench/naive_baseline.py's `message.sent`, at `at`."""
    body = json.loads(naive_message_sent(tenant, conversation, user))
    body["occurred_at"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(body).encode()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the load generators: each a process of its own, started by the orchestrator below ------


def result(figures: dict[str, Any]) -> None:
    """The generator's figures, one JSON line, printed the moment it is done (before closing its
    connection, so the bench's clock stops with the load)."""
    print(json.dumps(figures), flush=True)


async def handshake() -> None:
    """Say `ready` once connected, then wait for `go` on stdin: both generators of a phase start
    together, after their interpreters have started (not on a guessed delay)."""
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit("no go from the bench")


async def publisher(url: str, tenant: str, rate: int, seconds: int) -> None:
    """RATE events/s for SECONDS, each publish issued at its time (against the clock, not a
    sleep per event) and its PubAck awaited asynchronously, so a slow ack never slows the
    offered rate; a schedule it cannot hold shows as `behind_max_ms`."""
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=20_000)
    conversations = [str(uuid.uuid4()) for _ in range(INGEST_CONVERSATIONS)]
    users = [str(uuid.uuid4()) for _ in range(10)]
    failed: Counter[str] = Counter()

    def done(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            failed[type(error).__name__] += 1

    await handshake()
    start, behind = time.perf_counter(), 0.0
    n = rate * seconds
    for i in range(n):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        else:
            behind = max(behind, -wait)
        body = message_sent(
            tenant, conversations[i % len(conversations)], users[i % len(users)], datetime.now(UTC)
        )
        future = await js.publish_async(MESSAGE_SENT, body)
        future.add_done_callback(done)
    issued = time.perf_counter() - start
    await js.publish_async_completed()
    acked = time.perf_counter() - start
    result(
        {
            "published": n - sum(failed.values()),
            "failed": dict(failed),
            "issued_s": round(issued, 3),
            "acked_s": round(acked, 3),
            "behind_max_ms": round(behind * 1000, 1),
        }
    )
    await nc.close()


@dataclass
class Reads:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    items: int = 0
    passes: int = 0  # times a requester reached the conversation's end
    slowest: tuple[float, float] = (0.0, 0.0)  # (sent at, s after go; ms)


async def reader(
    url: str,
    tenant: str,
    conversation: str,
    seconds: float,
    concurrency: int,
    limit: int,
) -> None:
    """CONCURRENCY requesters paging through the conversation as fast as they are answered."""
    nc = await nats.connect(url)
    starts = await start_tokens(nc, tenant, conversation, concurrency)
    reads = Reads()
    await handshake()
    start = time.perf_counter()
    stop_at = start + seconds

    async def requester(i: int) -> None:
        after = starts[i]
        while time.perf_counter() < stop_at:
            asked = {"tenant": tenant, "conversation": conversation, "limit": limit, "after": after}
            sent = time.perf_counter()
            try:
                msg = await nc.request(LIST, json.dumps(asked).encode(), timeout=10)
            except nats.errors.NoRespondersError:
                reads.errors["no_responders"] += 1
                after = None
                continue
            except nats.errors.TimeoutError:
                reads.errors["timeout"] += 1
                after = None
                continue
            took = time.perf_counter() - sent
            code = (msg.headers or {}).get(ERROR_CODE)
            if code:
                reads.errors[code] += 1
                after = None
                continue
            page = json.loads(msg.data)
            reads.latencies_ms.append(round(took * 1000, 3))
            if took * 1000 > reads.slowest[1]:
                reads.slowest = (sent - start, took * 1000)
            reads.items += len(page["items"])
            after = page["next"]
            if after is None:
                reads.passes += 1

    await asyncio.gather(*(requester(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    result(
        {
            "seconds": round(elapsed, 3),
            "latencies_ms": reads.latencies_ms,
            "errors": dict(reads.errors),
            "items": reads.items,
            "passes": reads.passes,
            "slowest_at_s": round(reads.slowest[0], 2),
        }
    )
    await nc.close()


async def start_tokens(
    nc: Client, tenant: str, conversation: str, concurrency: int
) -> list[str | None]:
    """`after` tokens spread evenly over the conversation, one per requester, found before the
    timed window by a walk in the largest pages (an `offset` would cost the first request of
    each requester a parse of every message it skips)."""
    tokens: list[str | None] = [None]
    while True:
        asked = {"tenant": tenant, "conversation": conversation, "limit": 500, "after": tokens[-1]}
        msg = await nc.request(LIST, json.dumps(asked).encode(), timeout=10)
        if (msg.headers or {}).get(ERROR_CODE):
            raise RuntimeError(f"{LIST} answered {msg.headers}")
        token = json.loads(msg.data)["next"]
        if token is None:
            break
        tokens.append(token)
    return [tokens[i * len(tokens) // concurrency] for i in range(concurrency)]


# --- the orchestrator ----------------------------------------------------------------------


def usage(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and bytes written to disk by a process and its live
    descendants, from /proc (nothing once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        written = int(io["write_bytes"])
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, IndexError, ValueError, KeyError):
        return 0.0, 0
    for kid in kids:
        kid_cpu, kid_written = usage(int(kid))
        cpu, written = cpu + kid_cpu, written + kid_written
    return cpu, written


def io_stalled_s() -> float:
    """Seconds in which some task of the machine waited for I/O, since boot (Linux PSI)."""
    try:
        return int(Path("/proc/pressure/io").read_text().split()[4].split("=")[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return float("nan")


class Processes:
    """The bench's child processes by name; `stop` ends each (SIGTERM, then SIGKILL) by its
    own pid, whatever happened (an exception, Ctrl-C)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.running: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str], piped: bool = False) -> None:
        with open(self.work / f"{name}.log", "w") as log:  # the child keeps its own copy
            self.running[name] = subprocess.Popen(
                cmd,
                env=env,
                cwd=self.work,  # no stray .env is read
                stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
                stdout=subprocess.PIPE if piped else log,
                stderr=log,
                text=True,
            )

    def pid(self, name: str) -> int:
        return self.running[name].pid

    def check(self, *names: str) -> None:
        for name in names:
            if (code := self.running[name].poll()) is not None:
                raise RuntimeError(f"{name} exited with {code}: see {self.work / name}.log")

    async def line(self, name: str, timeout: float) -> str:
        """The next line the process prints, within `timeout` (its death ends the wait)."""
        out = self.running[name].stdout
        assert out is not None
        line = await asyncio.wait_for(asyncio.to_thread(out.readline), timeout)
        if not line:
            self.running[name].wait(5)
            self.check(name)
        return line.strip()

    def go(self, *names: str) -> None:
        for name in names:
            stdin = self.running[name].stdin
            assert stdin is not None
            stdin.write("go\n")
            stdin.flush()

    def stop(self, *names: str, grace: float = 30.0) -> None:
        for name in names or list(self.running):
            p = self.running.pop(name, None)
            if p is None:
                continue
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(grace)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for stream in (p.stdin, p.stdout):
                if stream is not None:
                    stream.close()


@dataclass
class Phase:
    name: str
    publisher: dict[str, Any]
    window_s: float
    applied: int
    backlog_end: int
    samples: list[tuple[float, int]]  # (s after go, the durable's backlog)
    drain_s: float
    cpu_s: dict[str, float]
    written_mb: dict[str, float]
    io_stall_s: float
    wal_mb: float
    reads: dict[str, Any] | None = None

    @property
    def backlog(self) -> list[int]:
        return [n for _, n in self.samples] or [0]

    @property
    def lag_max_s(self) -> float:
        """The most the worker was behind: the largest backlog, in seconds of publishing."""
        rate = float(self.publisher["published"]) / float(self.publisher["issued_s"])
        return max(self.backlog) / rate

    @property
    def backlog_max_at_s(self) -> float:
        return max(self.samples, key=lambda s: s[1], default=(0.0, 0))[0]

    @property
    def ingest_per_s(self) -> float:
        return self.applied / self.window_s

    def cores(self) -> dict[str, float]:
        return {k: round(v / self.window_s, 2) for k, v in self.cpu_s.items()}

    @property
    def io_stall_pct(self) -> float:
        return self.io_stall_s / self.window_s * 100


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.server = LocalNatsServer(work / "nats")
        self.procs = Processes(work)
        self.tenant, self.conversation = str(uuid.uuid4()), str(uuid.uuid4())

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "NATS_URL": self.server.url,
            "STORE_URL": f"sqlite:///{self.work / 'store.db'}",
            "METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }

    def me(self, role: str, *options: str) -> list[str]:
        return [sys.executable, __file__, "--role", role, "--url", self.server.url, *options]

    async def backlog(self, js: JetStreamContext) -> int:
        info = await js.consumer_info(STREAM_EVENTS, durable_name("messages"), timeout=5)
        return int(info.num_pending + info.num_ack_pending)

    async def drained(self, js: JetStreamContext, timeout: float) -> float:
        """Seconds until the durable's backlog is 0 (it exists: the worker is up)."""
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        while True:
            self.procs.check("worker")
            try:
                if await self.backlog(js) == 0:
                    return time.perf_counter() - started
            except nats.js.errors.NotFoundError:
                pass  # the worker has not made its durable yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not drain within {timeout:.0f} s")
            await asyncio.sleep(0.05)

    async def seed(self, js: JetStreamContext) -> float:
        a = self.args
        user, start = str(uuid.uuid4()), datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        t0 = time.perf_counter()
        for i in range(a.seed):
            at = start + timedelta(milliseconds=i)
            await js.publish_async(
                MESSAGE_SENT, message_sent(self.tenant, self.conversation, user, at)
            )
        await js.publish_async_completed()
        await self.drained(js, DRAIN_S)
        return time.perf_counter() - t0

    async def serve_reads(self, nc: Client) -> None:
        """Start `serve-reads`; ready once it answers the seeded conversation's count."""
        self.procs.start(
            "serve-reads", [sys.executable, "-m", "workers", "serve-reads"], self.env()
        )
        asked = json.dumps({"tenant": self.tenant, "conversation": self.conversation}).encode()
        deadline = time.monotonic() + READY_S
        while True:
            self.procs.check("serve-reads")
            try:
                msg = await nc.request(COUNT, asked, timeout=1)
                if not (msg.headers or {}).get(ERROR_CODE):
                    break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"serve-reads did not answer within {READY_S:.0f} s")
            await asyncio.sleep(0.1)
        messages = json.loads(msg.data)["messages"]
        if messages != self.args.seed:
            raise RuntimeError(
                f"the seeded conversation holds {messages} messages, not {self.args.seed}"
            )

    async def phase(self, js: JetStreamContext, name: str, with_reads: bool) -> Phase:
        a = self.args
        await self.drained(js, DRAIN_S)  # each phase starts on an empty backlog
        gens = ["publisher"] + (["reader"] if with_reads else [])
        self.procs.start(
            "publisher",
            self.me(
                "publisher",
                "--tenant",
                self.tenant,
                "--rate",
                str(a.rate),
                "--seconds",
                str(a.seconds),
            ),
            self.env(),
            piped=True,
        )
        if with_reads:
            self.procs.start(
                "reader",
                self.me(
                    "reader",
                    "--tenant",
                    self.tenant,
                    "--conversation",
                    self.conversation,
                    "--seconds",
                    str(a.seconds),
                    "--concurrency",
                    str(a.concurrency),
                    "--limit",
                    str(a.limit),
                ),
                self.env(),
                piped=True,
            )
        for g in gens:
            if await self.procs.line(g, READY_S) != "ready":
                raise RuntimeError(f"{g} did not say ready: see {self.work / g}.log")
        watched = ["worker", "nats-server"] + (["serve-reads"] if with_reads else []) + gens
        pids = {n: self.server_pid() if n == "nats-server" else self.procs.pid(n) for n in watched}
        before, stalled = {n: usage(pid) for n, pid in pids.items()}, io_stalled_s()
        samples: list[tuple[float, int]] = []
        self.procs.go(*gens)
        t0 = time.perf_counter()
        sampler = asyncio.create_task(self.sample(js, samples, t0))
        try:
            reads = None
            if with_reads:
                reads = json.loads(await self.procs.line("reader", a.seconds + READY_S))
            published = json.loads(await self.procs.line("publisher", a.seconds * 3 + READY_S))
            backlog_end = await self.backlog(js)
            t1 = time.perf_counter()
            after, stalled = {n: usage(pid) for n, pid in pids.items()}, io_stalled_s() - stalled
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        self.procs.stop(*gens)
        drain_s = await self.drained(js, DRAIN_S)
        return Phase(
            name=name,
            publisher=published,
            window_s=t1 - t0,
            applied=published["published"] - backlog_end,
            backlog_end=backlog_end,
            samples=samples,
            drain_s=drain_s,
            cpu_s={n: after[n][0] - before[n][0] for n in watched},
            written_mb={n: (after[n][1] - before[n][1]) / 1e6 for n in ("worker", "nats-server")},
            io_stall_s=stalled,
            wal_mb=self.wal_mb(),
            reads=reads,
        )

    def server_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    async def sample(self, js: JetStreamContext, into: list[tuple[float, int]], t0: float) -> None:
        while True:
            into.append((time.perf_counter() - t0, await self.backlog(js)))
            await asyncio.sleep(BACKLOG_POLL_S)

    def wal_mb(self) -> float:
        """The SQLite WAL's size: it grows while readers keep a checkpoint from restarting it."""
        wal = self.work / "store.db-wal"
        return wal.stat().st_size / 1e6 if wal.exists() else 0.0

    async def run(self) -> dict[str, Any]:
        a = self.args
        self.server.start()
        settings = Config(
            nats_url=self.server.url,
            store_url=f"sqlite:///{self.work / 'store.db'}",
            _env_file=None,
        )
        nc = await nats.connect(self.server.url)
        try:
            js = nc.jetstream(publish_async_max_pending=4000)
            await ensure_streams(js, settings)
            self.procs.start("worker", [sys.executable, "-m", "workers", "worker"], self.env())
            seeded = await self.seed(js)
            print(
                f"seeded: {a.seed:,} messages in one conversation, published and applied in "
                f"{seeded:.1f} s",
                flush=True,
            )
            alone = await self.phase(js, "A", with_reads=False)
            report(alone, a.limit)
            await self.serve_reads(nc)
            both = await self.phase(js, "B", with_reads=True)
            report(both, a.limit)
        finally:
            await nc.close()
        return summary(a, alone, both)

    def stop(self) -> None:
        self.procs.stop()
        self.server.stop()


def report(p: Phase, limit: int) -> None:
    pub = p.publisher
    what = "ingest alone" if p.reads is None else "ingest + reads"
    print(
        f"phase {p.name} ({what}): {p.ingest_per_s:,.0f} events/s applied over "
        f"{p.window_s:.1f} s (published {pub['published']:,}, acked by the server in "
        f"{pub['acked_s']:.1f} s, publisher at most {pub['behind_max_ms']:.0f} ms behind its "
        f"schedule)\n  backlog (events): mean {statistics.fmean(p.backlog):.0f}, max "
        f"{max(p.backlog):,} ({p.backlog_max_at_s:.1f} s in; {p.lag_max_s:.1f} s behind), at "
        f"the end {p.backlog_end:,} "
        f"(drained {p.drain_s:.2f} s later); SQLite WAL {p.wal_mb:.0f} MB",
        flush=True,
    )
    if pub["failed"]:
        print(f"  publishes failed: {pub['failed']}")
    print(f"  CPU, cores: {', '.join(f'{k} {v:.2f}' for k, v in p.cores().items())}", flush=True)
    written = ", ".join(f"{k} {v:.0f} MB" for k, v in p.written_mb.items())
    print(
        f"  written to disk: {written}; some task waiting for I/O {p.io_stall_pct:.0f} % of "
        "the time (PSI)",
        flush=True,
    )
    if p.reads is not None:
        r, lat = p.reads, p.reads["latencies_ms"]
        pages = len(lat)
        print(
            f"  reads: {pages / r['seconds']:,.0f} pages/s of up to {limit} "
            f"({pages:,} pages, {r['items']:,} messages, {r['passes']} passes through the "
            f"conversation), latency p50 {percentile(lat, 0.5):.1f} ms, p99 "
            f"{percentile(lat, 0.99):.1f} ms, max {max(lat or [float('nan')]):.1f} ms "
            f"({r['slowest_at_s']:.1f} s in); errors {r['errors'] or 'none'}",
            flush=True,
        )


def summary(a: argparse.Namespace, alone: Phase, both: Phase) -> dict[str, Any]:
    assert both.reads is not None
    lat = both.reads["latencies_ms"]
    cost = (1 - both.ingest_per_s / alone.ingest_per_s) * 100
    return {
        "reads_per_s": round(len(lat) / both.reads["seconds"]),
        "p50_ms": round(percentile(lat, 0.5), 1),
        "p99_ms": round(percentile(lat, 0.99), 1),
        "ingest_alone_per_s": round(alone.ingest_per_s),
        "ingest_with_reads_per_s": round(both.ingest_per_s),
        "ingest_cost_pct": round(cost, 1),
        "target_met": cost <= TARGET_PCT,
        "errors": both.reads["errors"],
        "backlog_end": {"alone": alone.backlog_end, "with_reads": both.backlog_end},
        "backlog_max": {"alone": max(alone.backlog), "with_reads": max(both.backlog)},
        "lag_max_s": {"alone": round(alone.lag_max_s, 2), "with_reads": round(both.lag_max_s, 2)},
        "wal_mb": {"alone": round(alone.wal_mb), "with_reads": round(both.wal_mb)},
        "cpu_cores": {"alone": alone.cores(), "with_reads": both.cores()},
        "written_mb": {
            "alone": {k: round(v) for k, v in alone.written_mb.items()},
            "with_reads": {k: round(v) for k, v in both.written_mb.items()},
        },
        "io_stall_pct": {
            "alone": round(alone.io_stall_pct),
            "with_reads": round(both.io_stall_pct),
        },
        "seed": a.seed,
        "offered_rate": a.rate,
        "seconds": a.seconds,
        "concurrency": a.concurrency,
        "limit": a.limit,
    }


async def orchestrate(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    bench = Bench(args, work)
    load = os.getloadavg()
    print(
        f"bench-reads: seed {args.seed:,} messages, {args.rate:,} events/s offered for "
        f"{args.seconds} s per phase, {args.concurrency} concurrent readers of pages of "
        f"{args.limit}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    ok = False
    try:
        result = await bench.run()
        ok = True
    finally:
        bench.stop()  # also on an exception or Ctrl-C (the task is cancelled, this still runs)
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    load = os.getloadavg()
    result["load_avg_after"] = [round(x, 2) for x in load]
    cost = result["ingest_cost_pct"]
    print(
        f"\nreads: {result['reads_per_s']:,} pages/s, p50 {result['p50_ms']} ms, p99 "
        f"{result['p99_ms']} ms, errors {result['errors'] or 'none'}\n"
        f"ingest: {result['ingest_alone_per_s']:,} events/s alone, "
        f"{result['ingest_with_reads_per_s']:,} with the reads: cost {cost:.1f} % "
        f"(target <= {TARGET_PCT:g} %: {'met' if result['target_met'] else 'NOT met'})\n"
        f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(json.dumps(result))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seed", type=int, default=10_000, help="messages in the read conversation")
    p.add_argument("--rate", type=int, default=1000, help="offered message.sent events/s")
    p.add_argument("--seconds", type=int, default=20, help="length of each phase")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (reader)")
    p.add_argument("--limit", type=int, default=50, help="messages per page")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, store)")
    p.add_argument(
        "--role", choices=["bench", "publisher", "reader"], default="bench", help=argparse.SUPPRESS
    )
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--tenant", help=argparse.SUPPRESS)
    p.add_argument("--conversation", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "publisher":
        asyncio.run(publisher(args.url, args.tenant, args.rate, args.seconds))
    elif args.role == "reader":
        asyncio.run(
            reader(
                args.url,
                args.tenant,
                args.conversation,
                args.seconds,
                args.concurrency,
                args.limit,
            )
        )
    else:
        try:
            return asyncio.run(orchestrate(args))
        except KeyboardInterrupt:
            print("interrupted: the bench's processes are stopped", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
