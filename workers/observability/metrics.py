"""The Prometheus metrics of one process, on its own registry (served at /metrics).

Per-message work stays small: a batch is tallied into a dict by (subject, outcome) and each
counter is incremented once per batch and label. FastStream's own middleware adds the generic
`faststream_*` series (received, processing time, publishes) on the same registry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from events.subjects import split_tenant

BATCH_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZES = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
AGE_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
PURGE_SECONDS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


class Metrics:
    """Every metric the workers and the scheduler expose. One instance per process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()

        def events(name: str, what: str) -> Counter:
            return Counter(f"workers_events_{name}", what, ["subject"], registry=r)

        self.received = events("received", "Events handed to the workers, by subject.")
        # by the ingest core's outcome (`Outcome` is a StrEnum of these): no import of the core
        self.by_outcome: dict[str, Counter] = {
            "applied": events("applied", "Events whose effects were committed."),
            "duplicate": events("duplicate", "Events already applied (dedupe mark found)."),
            "dead": events("dead_lettered", "Events sent to the DLQ stream, then acked."),
            "retry": events("retried", "Events nak'ed after a transient failure."),
        }
        self.redelivered = events("redelivered", "Events delivered more than once by JetStream.")
        durable = ["durable"]
        self.apply_seconds = Histogram(
            "workers_apply_seconds",
            "Per batch: validation and its one transaction, until the commit returned.",
            durable,
            buckets=BATCH_SECONDS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "workers_batch_seconds",
            "Per batch: from hand-over to the last ack (apply, then acks, naks, dead letters).",
            durable,
            buckets=BATCH_SECONDS,
            registry=r,
        )
        self.batch_size = Histogram(
            "workers_batch_size",
            "Events per fetched batch.",
            durable,
            buckets=BATCH_SIZES,
            registry=r,
        )
        self.event_age = Histogram(
            "workers_event_age_seconds",
            "Per batch: time from the oldest event's arrival in JetStream to its ack.",
            durable,
            buckets=AGE_SECONDS,
            registry=r,
        )
        self.consumer_pending = Gauge(
            "workers_consumer_pending",
            "Messages in the stream not yet delivered to the durable consumer.",
            durable,
            registry=r,
        )
        self.consumer_ack_pending = Gauge(
            "workers_consumer_ack_pending",
            "Messages delivered to the durable consumer and not yet acknowledged.",
            durable,
            registry=r,
        )
        job = ["job"]
        self.purge_removed = Counter(
            "workers_purge_removed", "Records a retention job removed.", job, registry=r
        )
        self.purge_seconds = Histogram(
            "workers_purge_seconds",
            "Duration of a retention job run (runs that got the lease).",
            job,
            buckets=PURGE_SECONDS,
            registry=r,
        )
        self.lease_held = Gauge(
            "workers_lease_held", "1 while this process holds the job's lease.", job, registry=r
        )

    def batch_done(
        self, msgs: Sequence[Msg], outcomes: Sequence[str], started: float, committed: float
    ) -> None:
        """Record one settled batch (times from time.perf_counter)."""
        if not msgs:
            return
        tally: dict[tuple[str, str], int] = {}
        redelivered: dict[str, int] = {}
        for msg, outcome in zip(msgs, outcomes, strict=True):
            # without the tenant token (multi-tenant mode): a series per subject, not per tenant
            subject = split_tenant(msg.subject)[1]
            key = (subject, outcome)
            tally[key] = tally.get(key, 0) + 1
            if deliveries(msg) > 1:
                redelivered[subject] = redelivered.get(subject, 0) + 1
        received: dict[str, int] = {}
        for (subject, outcome), n in tally.items():
            self.by_outcome[outcome].labels(subject).inc(n)
            received[subject] = received.get(subject, 0) + n
        for subject, n in received.items():
            self.received.labels(subject).inc(n)
        for subject, n in redelivered.items():
            self.redelivered.labels(subject).inc(n)
        first = msgs[0].metadata
        durable, now = first.consumer, time.perf_counter()
        self.apply_seconds.labels(durable).observe(committed - started)
        self.batch_seconds.labels(durable).observe(now - started)
        self.batch_size.labels(durable).observe(len(msgs))
        self.event_age.labels(durable).observe(max(0.0, time.time() - first.timestamp.timestamp()))

    def purged(self, job: str, removed: int) -> None:
        if removed > 0:
            self.purge_removed.labels(job).inc(removed)

    def job_ran(self, job: str, seconds: float) -> None:
        self.purge_seconds.labels(job).observe(seconds)

    def lease(self, job: str, held: bool) -> None:
        self.lease_held.labels(job).set(1 if held else 0)


def deliveries(msg: Msg) -> int:
    """How many times JetStream delivered `msg`, read from its reply subject without building
    the whole Metadata (its cost: docs/performance.md): `$JS.ACK.<stream>.<consumer>.
    <delivered>.…` (9 tokens; the longer v2 form with a domain and an account hash takes the
    general path)."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[4])
    return int(msg.metadata.num_delivered)
