"""`make bench`: end-to-end message.sent throughput and latency, beside the naive baseline.

Throughput: publish N events first, then time from worker start until the last is committed
and acked. Latency: a separate publisher process offers a fixed 1,000 events/s; each event
carries its send time in a header; the worker side records when its batch was committed and
acked. The naive baseline (bench/naive_baseline.py) runs on the same N in this run.

file.changed, in the same run (bench/bench_files.py): a file-monitor burst (20,000 `created`,
then 10,000 `modified` of those paths) drained exactly as the message.sent throughput, and
reported as a ratio to it (target: at least 0.8x); then the cost of ONE late event in a session
of 10,000 files beside one of 100 files (through the ingestor, no NATS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_files  # noqa: E402
from naive_baseline import message_sent as event  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402

from events.subjects import FAMILY_BY_NAME, FILE_CHANGED, MESSAGE_SENT  # noqa: E402
from workers.config import Config  # noqa: E402
from workers.nats.local_server import LocalNatsServer, find_binary  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.nats.subscribers import BatchConsumer, durable_name  # noqa: E402
from workers.nats.tenancy import Registry, as_workers  # noqa: E402
from workers.service.worker import build_worker  # noqa: E402

BASELINE = ROOT / "bench" / "naive_baseline.py"
SENT_AT = "Bench-Sent-At"
FILES_TARGET = 0.8  # file.changed events/s, as a fraction of message.sent's in the same run


def naive_baseline(n: int) -> dict[str, float] | None:
    out = subprocess.run(
        [sys.executable, str(BASELINE), find_binary(), str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def throughput(n: int, batch: int, work: Path, multi_tenant: bool = False) -> float:
    tenant, conv, user = uuid.uuid4(), str(uuid.uuid4()), str(uuid.uuid4())
    bodies = (event(str(tenant), conv, user) for _ in range(n))
    where = work / ("tp-mt" if multi_tenant else "tp")
    rate, dead = await drain(
        MESSAGE_SENT, "messages", bodies, n, batch, where, tenant if multi_tenant else None
    )
    assert dead == 0, f"{dead} events dead-lettered"
    return rate


async def file_burst(creates: int, modifies: int, batch: int, work: Path) -> tuple[float, int]:
    """file.changed events/s, drained exactly as `throughput`; and how many were dead-lettered."""
    bodies = bench_files.burst(creates, modifies)
    return await drain(FILE_CHANGED, "files", bodies, len(bodies), batch, work / "files")


async def drain(
    subject: str,
    family: str,
    bodies: Iterable[bytes],
    n: int,
    batch: int,
    where: Path,
    tenant: uuid.UUID | None = None,
) -> tuple[float, int]:
    """Publish n bodies on `subject`, then time a worker from its start until all are committed
    and acked on the family's durable. Returns (events/s, events dead-lettered).

    With `tenant`: the multi-tenant mode (MULTI_TENANT): nats-server runs the generated
    accounts, the bodies are published with the tenant's `ide` credential (into its own
    stream, sourced by EVENTS), and the worker connects as the WORKERS account. The timer
    starts once EVENTS holds them all, as in single-tenant mode; the time the sourcing took is
    printed beside."""
    registry, accounts, data_dir = None, None, where.with_name(f"data-{where.name}")
    if tenant is not None:
        registry = Registry(data_dir)
        registry.add(tenant)
        ide = registry.issue(tenant, "ide")
        registry.save()
        accounts = registry.accounts_conf
    with LocalNatsServer(where.with_name(f"nats-{where.name}"), accounts=accounts) as server:
        settings = Config(
            nats_url=server.url,
            store_url=f"sqlite:///{where}.db",
            batch_size=batch,
            _env_file=None,
        )
        if registry is None:
            nc = await nats.connect(server.url)
        else:
            settings = as_workers(
                settings.model_copy(update={"multi_tenant": True, "data_dir": data_dir}),
                registry,
            )
            nc = await nats.connect(
                server.url,
                user=settings.nats_user,
                password=settings.nats_password.get_secret_value(),
            )
            producer = await nats.connect(server.url, user=ide.user, password=ide.password)
        js = nc.jetstream(publish_async_max_pending=4000)
        await ensure_streams(js, settings, [str(tenant)] if tenant else None)
        publish = (producer if registry is not None else nc).jetstream(
            publish_async_max_pending=4000
        )
        t_pub = time.perf_counter()
        for body in bodies:
            await publish.publish_async(subject, body)
        await publish.publish_async_completed()
        acked = time.perf_counter() - t_pub
        if registry is not None:
            await producer.close()
            # as in single-tenant mode (and the baseline), time the workers on a stream that
            # holds every event: wait until EVENTS has sourced them from the tenant's stream
            while (await js.stream_info("EVENTS")).state.messages < n:
                await asyncio.sleep(0.01)
        in_events = time.perf_counter() - t_pub
        print(
            f"  {'multi' if registry else 'single'}-tenant publish: {n} {subject} acked in "
            f"{acked:.2f} s ({n / acked:.0f}/s, one connection), all in EVENTS after "
            f"{in_events:.2f} s"
        )
        worker = build_worker(settings)
        stats = worker.ingestor.stats
        t0 = time.perf_counter()
        await worker.start()
        while stats.applied + stats.duplicates + stats.dead < n:
            await asyncio.sleep(0.01)
        # the last batch's acks are sent right after its commit; wait for the server to see them
        durable = durable_name(FAMILY_BY_NAME[family].name)
        while (await js.consumer_info("EVENTS", durable)).num_ack_pending:
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - t0
        await worker.stop()
        await nc.close()
        return n / seconds, stats.dead


async def latency(rate: int, seconds: int, work: Path) -> list[float]:
    samples: list[float] = []
    handle = BatchConsumer.apply

    async def timed(self: BatchConsumer, msgs: list[Msg]) -> None:
        await handle(self, msgs)  # returns once the batch is committed and acked
        now = time.time()
        samples.extend(now - float(m.headers[SENT_AT]) for m in msgs if m.headers)

    BatchConsumer.apply = timed  # type: ignore[method-assign]
    try:
        with LocalNatsServer(work / "nats-lat") as server:
            settings = Config(
                nats_url=server.url, store_url=f"sqlite:///{work}/lat.db", _env_file=None
            )
            worker = build_worker(settings)
            await worker.start()
            pub = subprocess.Popen(
                [sys.executable, __file__, "--publisher", server.url, str(rate), str(seconds)]
            )
            await asyncio.to_thread(pub.wait)
            deadline = time.monotonic() + 30
            while len(samples) < rate * seconds and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await worker.stop()
    finally:
        BatchConsumer.apply = handle  # type: ignore[method-assign]
    return samples


async def publisher(url: str, rate: int, seconds: int) -> None:
    """A producer at a fixed offered rate, paced against the clock (not sleep per event)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    tenant, conv, user = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    start = time.perf_counter()
    for i in range(rate * seconds):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        await js.publish(
            "message.sent", event(tenant, conv, user), headers={SENT_AT: repr(time.time())}
        )
    await nc.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=Config.model_fields["batch_size"].default)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--publisher", nargs=3, metavar=("URL", "RATE", "SECONDS"))
    ap.add_argument("--file-creates", type=int, default=20_000, help="file.changed burst")
    ap.add_argument("--file-modifies", type=int, default=10_000, help="of the created paths")
    ap.add_argument(
        "--late-sizes", type=int, nargs="+", default=[100, 10_000], help="files per session"
    )
    ap.add_argument("--late-repeats", type=int, default=50, help="late events timed per size")
    ap.add_argument(
        "--multi-tenant",
        action="store_true",
        help="also time the throughput in the multi-tenant mode (MULTI_TENANT), same N",
    )
    args = ap.parse_args()
    if args.publisher:
        url, rate, seconds = args.publisher
        await publisher(url, int(rate), int(seconds))
        return
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        print(f"N = {args.n} message.sent events, batch {args.batch}, SQLite (synchronous=FULL)")
        base = naive_baseline(args.n)
        ours = await throughput(args.n, args.batch, work)
        ours_mt = await throughput(args.n, args.batch, work, True) if args.multi_tenant else None
        files, dead = await file_burst(args.file_creates, args.file_modifies, args.batch, work)
        lat = await latency(args.rate, args.seconds, work)
        late = await bench_files.late_event_costs(
            work, args.late_sizes, args.late_repeats, args.batch
        )
    ratio = ours / base["events_per_s"] if base else None
    print(f"naive baseline      : {base['events_per_s'] if base else '-':>8} events/s")
    print(
        f"this project        : {ours:>8.0f} events/s"
        + (f"   ({ratio:.2f}x the baseline)" if ratio else "")
    )
    if ours_mt is not None and base:
        print(
            f"  multi-tenant mode : {ours_mt:>8.0f} events/s   "
            f"({ours_mt / base['events_per_s']:.2f}x the baseline; a tenant's credential, its "
            "own stream sourced by EVENTS)"
        )
    print(
        f"latency at {args.rate}/s : p50 {pct(lat, 50):.1f} ms  p99 {pct(lat, 99):.1f} ms"
        f"  max {max(lat) * 1000:.1f} ms  ({len(lat)} events)"
    )
    files_ratio = files / ours
    met = files_ratio >= FILES_TARGET
    print(
        f"file.changed        : {files:>8.0f} events/s   ({files_ratio:.2f}x message.sent in this"
        f" run; target >= {FILES_TARGET}x: {'met' if met else 'NOT met'})"
        f"  [{args.file_creates} created + {args.file_modifies} modified, one session]"
        + (f"  {dead} dead-lettered!" if dead else "")
    )
    print(
        f"one late file.changed, one per transaction, median / p90 ms"
        f" ({late.repeats} paths each; outcomes {dict(late.outcomes)}):"
    )
    width = max(len(str(size)) for size in args.late_sizes)
    for size in args.late_sizes:
        cells = "   ".join(
            "{} {:.2f} / {:.2f}".format(kind, *late.quantiles_ms(kind, size))
            for kind in bench_files.KINDS
        )
        print(f"  session of {size:>{width}} files: {cells}")
    print(
        json.dumps(
            {
                "events": args.n,
                "batch": args.batch,
                "events_per_s": round(ours),
                "baseline_events_per_s": base["events_per_s"] if base else None,
                "ratio": round(ratio, 2) if ratio else None,
                "multi_tenant_events_per_s": round(ours_mt) if ours_mt else None,
                "multi_tenant_ratio": (
                    round(ours_mt / base["events_per_s"], 2) if ours_mt and base else None
                ),
                "offered_rate": args.rate,
                "p50_ms": round(pct(lat, 50), 1),
                "p99_ms": round(pct(lat, 99), 1),
                "mean_ms": round(statistics.mean(lat) * 1000, 1),
                "file_changed_events": args.file_creates + args.file_modifies,
                "file_changed_events_per_s": round(files),
                "file_changed_ratio": round(files_ratio, 2),
                "file_changed_target_met": met,
                "late_event_ms": {
                    str(size): {
                        kind: [round(q, 2) for q in late.quantiles_ms(kind, size)]
                        for kind in bench_files.KINDS
                    }
                    for size in args.late_sizes
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
