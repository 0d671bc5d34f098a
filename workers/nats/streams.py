"""The JetStream streams: created when absent, never silently rewritten when present.

FastStream's `JStream` would update an existing stream's subjects; we declare it with
`declare=False` and provision here, so an operator's changes to a live stream are kept.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from events.subjects import DLQ_SUBJECTS, EVENT_SUBJECTS, STREAM_DLQ, STREAM_EVENTS
from workers.config import Config

log = logging.getLogger(__name__)

DAY_S = 86_400.0


def wanted_streams(settings: Config) -> list[StreamConfig]:
    common = dict(
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.duplicate_window_s,
        discard=DiscardPolicy.OLD,
    )
    return [
        StreamConfig(
            name=STREAM_EVENTS,
            subjects=list(EVENT_SUBJECTS),
            max_age=settings.stream_max_age_days * DAY_S,
            description="Events from the IDE, the file-monitor and the agent runtime.",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=STREAM_DLQ,
            subjects=list(DLQ_SUBJECTS),
            description="Dead letters: original bytes, with the reason in the headers.",
            **common,  # type: ignore[arg-type]
        ),
    ]


async def ensure_streams(js: JetStreamContext, settings: Config) -> list[str]:
    """Create missing streams; report (never fix) existing ones whose subjects differ."""
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
        if have != set(want.subjects or []):
            note = (
                f"stream {want.name} exists with subjects {sorted(have)}, expected "
                f"{sorted(want.subjects or [])}: left as is; update it deliberately"
            )
            log.warning(note)
            notes.append(note)
    return notes
