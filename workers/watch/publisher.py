"""Steps to `file.changed` events on JetStream, each acknowledged before the baseline moves.

An event's id is derived from its content, so a batch sent again after a lost acknowledgement
(or after a crash before the baseline was written) carries the same ids: JetStream's duplicate
window and the workers' dedupe drop the second copy.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from pydantic import ValidationError

from events import subjects
from events.models import FileChanged
from workers.nats.producer import PublishReport, publish_all
from workers.watch.changes import Step

log = logging.getLogger("workers.watch")
ID_NAMESPACE = uuid.UUID("6f1c9a57-3d0e-4b8e-9a61-2f3c1d9e7b42")
ACK_TIMEOUT_S = 10.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Stopped(Exception):
    """The watcher was asked to stop while a batch still waited for NATS."""


@dataclass(frozen=True)
class Identity:
    tenant: uuid.UUID
    session: uuid.UUID
    user: uuid.UUID | None


def event_of(step: Step, who: Identity) -> FileChanged | None:
    """The step as an event; None (logged) when it cannot be one, e.g. a path too long."""
    at = EPOCH + timedelta(microseconds=step.occurred_at_us)
    what = (step.change, step.path, step.previous_path, step.sha256, step.occurred_at_us)
    key = f"{who.tenant}|{who.session}|" + "|".join(map(str, what))
    try:
        return FileChanged(
            event_id=uuid.uuid5(ID_NAMESPACE, key),
            tenant_id=who.tenant,
            user_id=who.user,
            workspace_session_id=who.session,
            occurred_at=at,
            source="file-monitor",
            change=step.change,
            file_path=step.path,
            previous_path=step.previous_path,
            file_size=step.size,
            mime_type=mimetypes.guess_type(step.path)[0] if step.size is not None else None,
            checksum=step.sha256,
        )
    except ValidationError as e:
        reason = e.errors()[0]["msg"]
        log.warning("not published: %s %s: %s", step.change, step.path, reason)
        return None


class Publisher:
    def __init__(self, url: str, options: dict[str, Any], stopping: Callable[[], bool]) -> None:
        self.url, self._options, self._stopping = url, options, stopping
        self._nc: Client | None = None
        self.published = 0
        self.duplicates = 0  # acknowledged by JetStream as already received (a resend)
        self.retries = 0

    async def _connection(self) -> Client:
        """Connected, or an error at once: `send` owns the retrying (one warning a try), so the
        client gives up after one reconnect attempt instead of looping."""
        if self._nc is None or self._nc.is_closed:
            self._nc = await nats.connect(
                self.url,
                connect_timeout=2,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.5,
                **self._options,
            )
        return self._nc

    async def send(self, events: Sequence[FileChanged]) -> None:
        """Publish and wait for every acknowledgement; retry the whole batch (same ids) while
        NATS is unreachable. Raises Stopped if asked to stop before it got through."""
        wait = 0.5
        while True:
            try:
                report = await self._send_once(events)
                self.published += len(events)
                self.duplicates += report.duplicates
                return
            except (NatsError, OSError, TimeoutError) as e:
                if self._stopping():
                    raise Stopped from e
                self.retries += 1
                log.warning(
                    "NATS at %s: %s; %d changes wait, retrying in %.0f s",
                    self.url,
                    e or type(e).__name__,
                    len(events),
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, 10)

    async def _send_once(self, events: Sequence[FileChanged]) -> PublishReport:
        nc = await self._connection()
        if not nc.is_connected:  # reconnecting: acks would only come after it is back
            raise ConnectionError("not connected")
        bodies = (
            (subjects.FILE_CHANGED, e.model_dump_json(exclude_none=True).encode(), str(e.event_id))
            for e in events
        )
        report = await publish_all(nc, bodies, window=1000, ack_timeout_s=ACK_TIMEOUT_S)
        if report.failed:
            reasons = "; ".join(report.failures)
            raise ConnectionError(f"{report.failed} of {report.sent} not acknowledged: {reasons}")
        return report

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
