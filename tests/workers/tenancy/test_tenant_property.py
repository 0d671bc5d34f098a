"""Property: whoever publishes what, every write lands in the publisher's own tenant.

Hypothesis draws batches of publishes by random producers (tenant A or B, any role) on random
subjects (their role's, another role's, another tenant's, the dead letters'), with random
payloads (their own `tenant_id`, the other tenant's, a random one; valid or not) and message
ids (fresh, or one the other tenant uses in the same batch). One nats-server started with the
generated accounts and one worker serve every example. After each batch, the store's keys that
changed all lie in the range of a tenant that published something the server accepted, and
nothing is lost: each refused publish is a permissions violation, each accepted valid event of
its own tenant is applied there, each other one is dead-lettered (a claim of another tenant also
audited as UnauthorizedAccess in the publisher's).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg

from events import AuditEventType
from events.examples import EXAMPLES
from events.subjects import FAMILIES, STREAM_DLQ, STREAM_EVENTS
from tests.helpers import eventually
from tests.workers.tenancy.conftest import Tenancy, audits
from workers.nats.subscribers import durable_name
from workers.nats.tenancy import ROLE_SUBJECTS

ROLES = sorted(ROLE_SUBJECTS)
EXAMPLE_SUBJECTS = sorted(EXAMPLES)
INVALID_BODIES = [b"", b"not json", b"[]", b"{}", b'{"event_id": "nope"}']


@dataclass(frozen=True)
class Publish:
    publisher: int  # 0: tenant A, 1: tenant B
    role: str
    subject: str  # an event subject, or "other-tenant" / "dead-letter" (made per batch)
    claim: str  # "own", "other", "random": whose tenant_id the body names
    valid: bool
    borrow: bool  # reuse, as event id and Nats-Msg-Id, an id the other tenant publishes


publishes = st.builds(
    Publish,
    publisher=st.integers(0, 1),
    role=st.sampled_from(ROLES),
    subject=st.sampled_from([*EXAMPLE_SUBJECTS, "other-tenant", "dead-letter"]),
    claim=st.sampled_from(["own", "own", "other", "random"]),
    valid=st.booleans(),
    borrow=st.booleans(),
)


def allowed(role: str, subject: str) -> bool:
    """NATS subject matching of the role's publish permissions (`*`: one token)."""

    def match(pattern: str) -> bool:
        p, s = pattern.split("."), subject.split(".")
        return len(p) == len(s) and all(a in ("*", b) for a, b in zip(p, s, strict=True))

    return any(match(p) for p in ROLE_SUBJECTS[role])


class Sender:
    """A producer's connection: core publishes with a reply inbox, so a whole batch is out at
    once; JetStream's acks come back on the inbox, the server's refusals through error_cb."""

    def __init__(self, nc: Client, refusals: list[str], inbox: str) -> None:
        self.nc, self.refusals, self.inbox = nc, refusals, inbox
        self.acks: dict[str, dict[str, Any]] = {}

    async def on_ack(self, msg: Msg) -> None:
        self.acks[msg.subject] = json.loads(msg.data) if msg.data else {"status": msg.headers}

    async def send(self, n: int, subject: str, data: bytes, msg_id: str) -> None:
        headers = {"Nats-Msg-Id": msg_id}
        await self.nc.publish(subject, data, reply=f"{self.inbox}.{n}", headers=headers)


@pytest.fixture
async def senders(tenancy: Tenancy) -> AsyncIterator[dict[tuple[int, str], Sender]]:
    made: dict[tuple[int, str], Sender] = {}
    for i, tenant in enumerate((tenancy.a, tenancy.b)):
        for role in ROLES:
            cred = tenancy.creds[(tenant, role)]
            refusals: list[str] = []

            async def on_error(e: Exception, refusals: list[str] = refusals) -> None:
                refusals.append(str(e))

            nc = await nats.connect(
                tenancy.server.url, user=cred.user, password=cred.password, error_cb=on_error
            )
            sender = Sender(nc, refusals, nc.new_inbox())
            await nc.subscribe(f"{sender.inbox}.*", cb=sender.on_ack)
            made[(i, role)] = sender
    yield made
    for sender in made.values():
        await sender.nc.close()


async def _snapshot(t: Tenancy) -> dict[bytes, bytes]:
    begin, end = t.worker.ingestor.repos.keys.everything()
    return dict(await t.worker.store.transact(lambda tr: tr.get_range(begin, end)))


async def _settled(t: Tenancy) -> bool:
    js = t.worker.broker.config.connection_state.stream  # type: ignore[attr-defined]
    events = await js.stream_info(STREAM_EVENTS)
    if any(s.lag for s in events.sources or []):
        return False
    for family in FAMILIES:
        info = await js.consumer_info(STREAM_EVENTS, durable_name(family.name))
        if info.num_pending or info.num_ack_pending:
            return False
    return not t.worker.consumer._tasks


WIRE = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.timeout(300)
@WIRE
@given(batch=st.lists(publishes, min_size=1, max_size=10))
async def test_every_write_lands_in_the_publishers_own_tenant(
    batch: list[Publish], tenancy: Tenancy, senders: dict[tuple[int, str], Sender]
) -> None:
    t = tenancy
    tenants = (t.a, t.b)
    js = t.worker.broker.config.connection_state.stream  # type: ignore[attr-defined]
    await eventually(lambda: _settled(t), what="the previous example settled")
    before = await _snapshot(t)
    stats = t.worker.ingestor.stats
    applied0, dead0, dup0 = stats.applied, stats.dead, stats.duplicates
    letters0 = (await js.stream_info(STREAM_DLQ)).state.messages
    unauthorized0 = [len(await audits(t, x, AuditEventType.UNAUTHORIZED_ACCESS)) for x in tenants]
    refusals0 = {k: len(s.refusals) for k, s in senders.items()}
    for s in senders.values():
        s.acks.clear()

    ids_of: list[list[str]] = [[], []]  # the event ids each tenant's bodies carry, to borrow
    borrowed: set[tuple[int, str]] = set()
    expected: list[tuple[Publish, str, uuid.UUID]] = []  # (what, fate, event id)
    for n, p in enumerate(batch):
        own, other = tenants[p.publisher], tenants[1 - p.publisher]
        subject = {
            "other-tenant": f"tenant.{other}.file.changed",
            "dead-letter": "dlq.file.changed",
        }.get(p.subject, p.subject)
        claim = {"own": own, "other": other, "random": uuid.uuid4()}[p.claim]
        event_id = uuid.uuid4()
        free = [i for i in ids_of[1 - p.publisher] if (p.publisher, i) not in borrowed]
        if p.borrow and p.claim == "own" and free:
            event_id = uuid.UUID(free[0])
            borrowed.add((p.publisher, free[0]))
        else:  # a borrowed id stays the other's: lent back, it would be a true duplicate
            ids_of[p.publisher].append(str(event_id))
        template = EXAMPLES[p.subject if p.subject in EXAMPLES else "file.changed"]
        body = {**template, "event_id": str(event_id), "tenant_id": str(claim)}
        data = json.dumps(body).encode() if p.valid else INVALID_BODIES[n % len(INVALID_BODIES)]
        if not allowed(p.role, subject):
            fate = "refused"
        elif not p.valid:
            fate = "dead"
        else:
            fate = "applied" if claim == own else "spoof"
        expected.append((p, fate, event_id))
        await senders[(p.publisher, p.role)].send(n, subject, data, str(event_id))

    refused = {
        k: sum(1 for p, f, _ in expected if f == "refused" and (p.publisher, p.role) == k)
        for k in senders
    }
    accepted = {
        k: sum(1 for p, f, _ in expected if f != "refused" and (p.publisher, p.role) == k)
        for k in senders
    }

    def answered() -> bool:
        return all(
            len(s.refusals) - refusals0[k] == refused[k] and len(s.acks) == accepted[k]
            for k, s in senders.items()
        )

    await eventually(answered, what="every publish acked by JetStream or refused by the server")
    assert all("permissions violation" in r.lower() for s in senders.values() for r in s.refusals)
    acks = [a for s in senders.values() for a in s.acks.values()]
    assert all("stream" in a and not a.get("duplicate") for a in acks), acks

    n_applied = sum(1 for _, f, _ in expected if f == "applied")
    n_dead = sum(1 for _, f, _ in expected if f in ("dead", "spoof"))
    await eventually(
        lambda: stats.applied - applied0 == n_applied and stats.dead - dead0 == n_dead,
        what=f"{n_applied} applied and {n_dead} dead-lettered",
    )
    await eventually(lambda: _settled(t), what="this example settled")
    assert stats.duplicates == dup0
    assert (await js.stream_info(STREAM_DLQ)).state.messages - letters0 == n_dead

    # every key written lies in the range of a tenant that published something accepted
    after = await _snapshot(t)
    # written or cleared: a file event also clears keys (a path's live index entry on delete)
    changed = [k for k, v in after.items() if before.get(k) != v]
    changed += [k for k in before if k not in after]
    writers = {tenants[p.publisher] for p, f, _ in expected if f in ("applied", "spoof")}
    keys = t.worker.ingestor.repos.keys
    ranges = {w: keys.tenant_range(w) for w in writers}
    registered = {keys.tenants.key(w) for w in writers}
    for key in changed:
        assert key in registered or any(b <= key < e for b, e in ranges.values()), key

    # nothing lost: each own event applied in its tenant; each claim of another audited
    repos = t.worker.ingestor.repos
    own = [(tenants[p.publisher], e) for p, f, e in expected if f == "applied"]
    assert all(await t.worker.store.transact(lambda tr: repos.applied.applied(tr, own)))
    for i, x in enumerate(tenants):
        spoofs = {str(e) for p, f, e in expected if f == "spoof" and p.publisher == i}
        records = await audits(t, x, AuditEventType.UNAUTHORIZED_ACCESS)
        assert len(records) - unauthorized0[i] == len(spoofs)
        assert spoofs <= {r.event_data["rejected_event_id"] for r in records}
