"""The JetStream streams: created when absent, never silently rewritten when present.

FastStream's `JStream` would update an existing stream's subjects; we declare it with
`declare=False` and provision here, so an operator's changes to a live stream are kept.

Multi-tenant mode: JetStream's `Nats-Msg-Id` window belongs to the stream that first stores a
message, so each tenant's events land in a stream of their own (`EVENTS_<tenant>`, subjects
`tenant.<tenant>.<subject>`: its own window, its own ack to the producer), and EVENTS sources
all of them with no window of its own (a stream with sources may have none; nats-server checks
sourced messages against the window of the stream they are sourced into). One tenant's
message ids can then never make another tenant's event a duplicate. Adding a tenant adds a
source to EVENTS: the one change made to an existing stream, and only ever an addition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamSource
from nats.js.errors import NotFoundError

from events.subjects import (
    DLQ_SUBJECTS,
    EVENT_SUBJECTS,
    STREAM_DLQ,
    STREAM_EVENTS,
    TENANT_PREFIX,
)
from workers.config import Config
from workers.nats.tenancy import Registry

log = logging.getLogger(__name__)

DAY_S = 86_400.0


def _common(settings: Config) -> dict[str, Any]:
    return dict(
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.duplicate_window_s,
        discard=DiscardPolicy.OLD,
    )


def wanted_streams(settings: Config) -> list[StreamConfig]:
    common = _common(settings)
    return [
        StreamConfig(
            name=STREAM_EVENTS,
            # multi-tenant: no subjects of its own; it sources the tenants' streams
            subjects=[] if settings.multi_tenant else list(EVENT_SUBJECTS),
            max_age=settings.stream_max_age_days * DAY_S,
            description="Events from the IDE, the file-monitor and the agent runtime.",
            **common,
        ),
        StreamConfig(
            name=STREAM_DLQ,
            subjects=list(DLQ_SUBJECTS),
            description="Dead letters: original bytes, with the reason in the headers.",
            **common,
        ),
    ]


def tenant_stream_name(tenant: str) -> str:
    """The stream that first stores tenant `tenant`'s events (multi-tenant mode)."""
    return f"{STREAM_EVENTS}_{tenant}"


def wanted_tenant_stream(settings: Config, tenant: str) -> StreamConfig:
    return StreamConfig(
        name=tenant_stream_name(tenant),
        subjects=[f"{TENANT_PREFIX}.{tenant}.{s}" for s in EVENT_SUBJECTS],
        max_age=settings.stream_max_age_days * DAY_S,
        description=f"Tenant {tenant}'s events, as its producers published them; EVENTS "
        "sources them. Its own Nats-Msg-Id window: no other tenant shares it.",
        **_common(settings),
    )


async def ensure_tenant_streams(
    js: JetStreamContext, settings: Config, tenants: Iterable[str]
) -> list[str]:
    """Create each tenant's stream if absent and make EVENTS source it (adding sources, never
    removing one: a revoked tenant's accepted events still reach the workers)."""
    notes = []
    for tenant in tenants:
        want = wanted_tenant_stream(settings, tenant)
        try:
            await js.stream_info(tenant_stream_name(tenant))
        except NotFoundError:
            await js.add_stream(want)
            notes.append(f"created stream {want.name} ({want.subjects[0]} …)")  # type: ignore[index]
    events = (await js.stream_info(STREAM_EVENTS)).config
    have = {s.name for s in events.sources or []}
    missing = [tenant_stream_name(t) for t in tenants if tenant_stream_name(t) not in have]
    if missing or (have and events.duplicate_window):
        events.sources = [*(events.sources or []), *(StreamSource(name=m) for m in missing)]
        # EVENTS would check sourced messages against a window of its own, shared by all
        # tenants; a stream with sources may have none (0), and the tenants' streams keep theirs
        events.duplicate_window = 0
        await js.update_stream(events)
        notes.append(f"stream {STREAM_EVENTS} sources {', '.join(missing) or 'its tenants'}")
    return notes


async def ensure_streams(
    js: JetStreamContext, settings: Config, tenants: Iterable[str] | None = None
) -> list[str]:
    """Create missing streams; report (never fix) existing ones whose subjects differ. In
    multi-tenant mode, also each tenant's stream (default: the registry's in DATA_DIR),
    sourced by EVENTS."""
    notes = []
    for want in wanted_streams(settings):
        assert want.name is not None
        try:
            info = await js.stream_info(want.name)
        except NotFoundError:
            await js.add_stream(want)
            notes.append(f"created stream {want.name} ({', '.join(want.subjects or [])})")
            continue
        have = set(info.config.subjects or [])
        if not want.subjects:  # a stream with neither subjects nor sources gets its name
            have.discard(want.name)
        if have != set(want.subjects or []):
            note = (
                f"stream {want.name} exists with subjects {sorted(have)}, expected "
                f"{sorted(want.subjects or [])}: left as is; update it deliberately"
            )
            log.warning(note)
            notes.append(note)
    if settings.multi_tenant:
        if tenants is None:
            tenants = Registry(settings.data_dir).tenants()
        notes += await ensure_tenant_streams(js, settings, list(tenants))
    return notes
