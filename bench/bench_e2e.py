"""`make bench`: end-to-end message.sent throughput and latency, beside the naive baseline.

Throughput: publish N events first, then time from worker start until the last is committed
and acked. Latency: a separate publisher process offers a fixed 1,000 events/s; each event
carries its send time in a header; the worker side records when its batch was committed and
acked. The naive baseline (bench/naive_baseline.py) runs on the same N in this run.
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
from pathlib import Path

import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from naive_baseline import message_sent as event  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402

from workers.config import Config  # noqa: E402
from workers.nats.local_server import LocalNatsServer, find_binary  # noqa: E402
from workers.nats.streams import ensure_streams  # noqa: E402
from workers.nats.subscribers import BatchConsumer  # noqa: E402
from workers.service.worker import build_worker  # noqa: E402

BASELINE = ROOT / "bench" / "naive_baseline.py"
SENT_AT = "Bench-Sent-At"


def naive_baseline(n: int) -> dict[str, float] | None:
    out = subprocess.run(
        [sys.executable, str(BASELINE), find_binary(), str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def throughput(n: int, batch: int, work: Path) -> float:
    with LocalNatsServer(work / "nats-tp") as server:
        settings = Config(
            nats_url=server.url,
            store_url=f"sqlite:///{work}/tp.db",
            batch_size=batch,
            _env_file=None,
        )  # type: ignore[call-arg]
        nc = await nats.connect(server.url)
        js = nc.jetstream(publish_async_max_pending=4000)
        await ensure_streams(js, settings)
        tenant, conv, user = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        for _ in range(n):
            await js.publish_async("message.sent", event(tenant, conv, user))
        await js.publish_async_completed()
        worker = build_worker(settings)
        stats = worker.ingestor.stats
        t0 = time.perf_counter()
        await worker.start()
        while stats.applied + stats.duplicates < n:
            await asyncio.sleep(0.01)
        # the last batch's acks are sent right after its commit; wait for the server to see them
        while (await js.consumer_info("EVENTS", "workers-messages")).num_ack_pending:
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - t0
        await worker.stop()
        await nc.close()
        return n / seconds


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
            )  # type: ignore[call-arg]
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
        lat = await latency(args.rate, args.seconds, work)
    ratio = ours / base["events_per_s"] if base else None
    print(f"naive baseline      : {base['events_per_s'] if base else '-':>8} events/s")
    print(
        f"this project        : {ours:>8.0f} events/s"
        + (f"   ({ratio:.2f}x the baseline)" if ratio else "")
    )
    print(
        f"latency at {args.rate}/s : p50 {pct(lat, 50):.1f} ms  p99 {pct(lat, 99):.1f} ms"
        f"  max {max(lat) * 1000:.1f} ms  ({len(lat)} events)"
    )
    print(
        json.dumps(
            {
                "events": args.n,
                "batch": args.batch,
                "events_per_s": round(ours),
                "baseline_events_per_s": base["events_per_s"] if base else None,
                "ratio": round(ratio, 2) if ratio else None,
                "offered_rate": args.rate,
                "p50_ms": round(pct(lat, 50), 1),
                "p99_ms": round(pct(lat, 99), 1),
                "mean_ms": round(statistics.mean(lat) * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
