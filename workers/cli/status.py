"""What `status` and `tenants list` report, as plain data: JetStream's streams and durable
consumers, the store's tenants and size, the scheduler's next runs. Each part is gathered on
its own, so NATS being down still shows the store, and the other way round."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from events.subjects import STREAM_DLQ, STREAM_EVENTS
from workers.cli.resources import nats_connection, sqlite_file
from workers.config import Config

if TYPE_CHECKING:
    from workers.repositories import Repositories
    from workers.store import Store


async def nats_status(config: Config) -> dict[str, Any]:
    """Stream sizes, each durable's lag (not yet delivered) and ack-pending, the DLQ depth."""
    from nats.js.errors import NotFoundError

    async with nats_connection(config) as nc:
        js = nc.jetstream()
        streams: list[dict[str, Any]] = []
        consumers: list[dict[str, Any]] = []
        for name in (STREAM_EVENTS, STREAM_DLQ):
            try:
                info = await js.stream_info(name)
            except NotFoundError:
                streams.append({"name": name, "missing": True})
                continue
            state = info.state
            streams.append(
                {"name": name, "messages": state.messages, "bytes": state.bytes, "missing": False}
            )
            for c in await js.consumers_info(name):
                consumers.append(
                    {
                        "stream": name,
                        "durable": c.name,
                        "pending": c.num_pending or 0,
                        "ack_pending": c.num_ack_pending or 0,
                        "redelivered": c.num_redelivered or 0,
                    }
                )
    dlq = next((s for s in streams if s["name"] == STREAM_DLQ), {})
    return {
        "url": config.nats_url,
        "streams": streams,
        "consumers": consumers,
        "dlq_depth": dlq.get("messages", 0),
    }


def store_size(config: Config) -> int | None:
    """Bytes on disk of an SQLite store, with its write-ahead log (None for FoundationDB)."""
    path = sqlite_file(config.store_url)
    if path is None:
        return None
    parts = [path, path.with_name(path.name + "-wal")]
    return sum(p.stat().st_size for p in parts if p.exists())


async def tenant_summaries(store: Store, repos: Repositories) -> list[dict[str, Any]]:
    out = []
    for tenant in await repos.tenants.all(store):
        s = await repos.tenants.summary(store, repos.specs(), tenant)
        out.append(
            {
                "tenant": str(s.tenant_id),
                "records": s.records,
                "last_event_at": s.last_event_at.isoformat() if s.last_event_at else None,
            }
        )
    return out


def next_runs(config: Config, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Each retention job's cron expression and next run (UTC), as a scheduler would fire."""
    from workers.jobs.scheduler import crons, trigger

    at = now or datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    for job, expr in crons(config).items():
        fire = trigger(config, job).get_next_fire_time(None, at)
        out[job] = {"cron": expr, "next_run": fire.isoformat() if fire else None}
    return out
