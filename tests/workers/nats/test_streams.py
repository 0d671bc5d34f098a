"""Streams are created when absent and never silently rewritten when present."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.api import StreamConfig

from events.subjects import DLQ_SUBJECTS, EVENT_SUBJECTS
from workers.config import Config
from workers.nats.streams import ensure_streams


async def test_missing_streams_are_created_with_the_contract_subjects(
    settings: Config, producer: Client
) -> None:
    notes = await ensure_streams(producer.jetstream(), settings)
    assert len(notes) == 2 and all(n.startswith("created stream") for n in notes)
    js = producer.jetstream()
    assert set((await js.stream_info("EVENTS")).config.subjects or []) == set(EVENT_SUBJECTS)
    assert set((await js.stream_info("DLQ")).config.subjects or []) == set(DLQ_SUBJECTS)
    assert await ensure_streams(js, settings) == []  # a second run changes nothing


async def test_an_existing_stream_with_other_subjects_is_reported_not_rewritten(
    settings: Config, producer: Client, start_worker
) -> None:
    js = producer.jetstream()
    await js.add_stream(StreamConfig(name="EVENTS", subjects=["message.sent", "legacy.>"]))
    notes = await ensure_streams(js, settings)
    assert any("EVENTS exists with subjects" in n and "left as is" in n for n in notes)
    await start_worker(settings)  # the workers start on it too, without touching it
    assert set((await js.stream_info("EVENTS")).config.subjects or []) == {
        "message.sent",
        "legacy.>",
    }
