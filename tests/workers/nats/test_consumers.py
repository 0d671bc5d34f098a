"""The durable consumers as the real nats-server holds them: what README and `workers/config.py`
promise (explicit acks, MAX_DELIVER, ACK_WAIT_S, MAX_ACK_PENDING, one durable per family with
its filter), read back with `consumer_info`, not from the config the workers meant to send."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerInfo, DeliverPolicy

from events.subjects import FAMILIES, STREAM_EVENTS, SUBJECT_MODELS
from tests.workers.ingest.test_fuzz_wire import matches
from workers.config import Config
from workers.nats.subscribers import durable_name

DURABLES = {durable_name(f.name): f for f in FAMILIES}


async def consumers(producer: Client) -> dict[str, ConsumerInfo]:
    infos = await producer.jetstream().consumers_info(STREAM_EVENTS)
    return {info.name: info for info in infos}


async def test_each_family_has_a_durable_with_the_configured_delivery_settings(
    settings: Config, start_worker: Any, producer: Client
) -> None:
    """A message is acked on its own after its batch commits (never AckPolicy.ALL), retried
    MAX_DELIVER times, redelivered after ACK_WAIT_S, and at most MAX_ACK_PENDING are out."""
    await start_worker(settings, max_deliver=7, ack_wait_s=33.0, max_ack_pending=1234)
    on_server = await consumers(producer)
    assert set(on_server) == set(DURABLES)
    for name, info in on_server.items():
        config = info.config
        assert config.durable_name == name
        assert config.deliver_subject is None, f"{name} is not a pull consumer"
        assert config.ack_policy == AckPolicy.EXPLICIT
        assert config.deliver_policy == DeliverPolicy.ALL  # what was published before it came
        assert (config.max_deliver, config.ack_wait, config.max_ack_pending) == (7, 33.0, 1234)
        filters = [config.filter_subject] if config.filter_subject else config.filter_subjects
        assert filters == [DURABLES[name].consumer_filter]


async def test_every_subject_is_taken_by_exactly_one_durable(
    settings: Config, start_worker: Any, producer: Client
) -> None:
    """Two durables on one subject would apply each of its events twice over; none, and the
    subject's events would wait in the stream forever."""
    await start_worker(settings)
    filters = {
        name: info.config.filter_subject or "" for name, info in (await consumers(producer)).items()
    }
    for subject in SUBJECT_MODELS:
        takers = [name for name, pattern in filters.items() if matches(subject, pattern)]
        assert takers == [durable_name(_family_of(subject))], subject


async def test_a_second_worker_shares_the_durables_instead_of_adding_its_own(
    settings: Config, start_worker: Any, producer: Client
) -> None:
    """Workers scale out by sharing the durables: each message goes to one of them."""
    await start_worker(settings)
    await start_worker(settings)
    assert set(await consumers(producer)) == set(DURABLES)


def _family_of(subject: str) -> str:
    [family] = [f.name for f in FAMILIES if subject in f.subjects]
    return family
