"""The exactly-once core, free of NATS: validate a batch's events, then apply them with their
dedupe marks in one transaction.

A dedupe mark per event is written in the same transaction as its effects, so a redelivered
event, or a transaction retried after 1021, is a no-op. Invalid events are set aside (dead,
with their reason) before the transaction.
"""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter
from uuid import UUID, uuid5

from pydantic import ValidationError

from events import Event, model_for_subject
from events.audit_types import SYSTEM_AUDIT_TYPES, AuditEventType
from events.models import AuditReported
from events.subjects import audit_subject, split_tenant
from workers.errors import summarize
from workers.handlers import BATCH_HANDLERS, HANDLERS, Unit
from workers.ids import Uuid7Block
from workers.ingest.outcomes import APPLIED, DUPLICATE, Incoming, Outcome, Result
from workers.records import Audit
from workers.repositories import Repositories
from workers.store.port import Transaction

Decoded = tuple[int, str, Event]
"""A valid event: its index in the batch, its subject, the validated model."""


def apply_events(
    repos: Repositories,
    decoded: list[Decoded],
    audit_ids: list[UUID],
    now_ms: int,
    tr: Transaction,
) -> list[Result]:
    """The exactly-once core: valid events, their dedupe marks and effects, one transaction."""
    done = repos.applied.applied(tr, [(e.tenant_id, e.event_id) for _, _, e in decoded])
    seen: set[tuple[UUID, UUID]] = set()
    results = []
    fresh: list[tuple[str, Unit, Event]] = []
    for (_, subject, event), audit_id, applied in zip(decoded, audit_ids, done, strict=True):
        key = (event.tenant_id, event.event_id)
        if applied or key in seen:
            results.append(DUPLICATE)
            continue
        seen.add(key)
        fresh.append((subject, Unit(tr, repos, audit_id), event))
        repos.applied.mark(tr, event.tenant_id, event.event_id, now_ms)
        results.append(APPLIED)
    fresh = _without_erased_users(repos, tr, fresh)
    for subject, run in groupby(fresh, key=itemgetter(0)):  # runs keep the batch's order
        work = [(unit, event) for _, unit, event in run]
        if (apply_run := BATCH_HANDLERS.get(subject)) is not None:
            apply_run(work)
        else:
            for unit, event in work:
                HANDLERS[subject](unit, event)
    for tenant_id in {t for t, _ in seen}:
        repos.tenants.mark_seen(tr, tenant_id)
    return results


def _without_erased_users(
    repos: Repositories, tr: Transaction, fresh: list[tuple[str, Unit, Event]]
) -> list[tuple[str, Unit, Event]]:
    """An event about an erased user (or one being erased) is not applied: it would bring the
    user's data back. It is acknowledged, and an ErasedUserEventDropped record that names
    neither the user nor the session takes its place. One read per batch."""
    users = {(e.tenant_id, e.user_id) for _, _, e in fresh if e.user_id is not None}
    erased = repos.erasures.erased_among(tr, sorted(users)) if users else {}
    if not erased:
        return fresh
    kept = []
    for subject, unit, event in fresh:
        run = erased.get((event.tenant_id, event.user_id)) if event.user_id else None
        if run is None:
            kept.append((subject, unit, event))
            continue
        repos.audit.create(
            tr,
            Audit(
                id=unit.audit_id,
                tenant_id=event.tenant_id,
                event_type=AuditEventType.ERASED_USER_EVENT_DROPPED,
                occurred_at=event.occurred_at,
                event_data={
                    "subject": subject,
                    "event_id": str(event.event_id),
                    "erasure_id": str(run),
                },
            ),
        )
    return kept


def apply_raw(
    repos: Repositories,
    batch: list[Incoming],
    audit_ids: Uuid7Block,
    now_ms: int,
    tr: Transaction,
) -> list[Result]:
    """A whole raw batch in one transaction, decoding included (what a child process runs):
    one result per event, the invalid ones dead with their reason. `audit_ids`: one per event."""
    dead, decoded = decode_all(batch)
    every_id = audit_ids.ids()
    ids = [every_id[i] for i, _, _ in decoded]
    return merged(dead, decoded, apply_events(repos, decoded, ids, now_ms, tr))


def decode_all(batch: list[Incoming]) -> tuple[list[Result | None], list[Decoded]]:
    """Each invalid event's result (dead, with the reason) and the valid ones, in order.

    On `tenant.T.<subject>` (multi-tenant mode: T is the account the server authenticated) an
    event whose `tenant_id` is not T is dead, and its place in `decoded` is taken by the
    UnauthorizedAccess audit record it earns in T: nothing is written in the tenant it named.
    """
    results: list[Result | None] = [None] * len(batch)
    decoded: list[Decoded] = []
    for i, item in enumerate(batch):
        tenant, subject = split_tenant(item.subject)
        event_or_reason = decode_body(subject, item.data)
        if isinstance(event_or_reason, str):
            results[i] = Result(Outcome.DEAD, event_or_reason)
        elif tenant is not None and str(event_or_reason.tenant_id) != tenant:
            reason = (
                f"tenant_id {event_or_reason.tenant_id} is not the publisher's tenant {tenant}: "
                f"a producer publishes only its own tenant's events"
            )
            results[i] = Result(Outcome.DEAD, reason)
            audit = unauthorized(tenant, subject, event_or_reason, reason)
            decoded.append((i, UNAUTHORIZED_SUBJECT, audit))
        else:
            decoded.append((i, subject, event_or_reason))
    return results, decoded


UNAUTHORIZED_SUBJECT = audit_subject(AuditEventType.UNAUTHORIZED_ACCESS)


def unauthorized(tenant: str, subject: str, event: Event, reason: str) -> AuditReported:
    """The UnauthorizedAccess record of `event`, in the tenant that published it; its id is
    derived from the event's, so a redelivery is a duplicate of it."""
    tenant_id = UUID(tenant)
    return AuditReported(
        event_id=uuid5(tenant_id, f"unauthorized:{event.event_id}"),
        tenant_id=tenant_id,
        occurred_at=event.occurred_at,
        user_id=event.user_id,
        workspace_session_id=event.workspace_session_id,
        source=event.source,
        ip_address=event.ip_address,
        user_agent=event.user_agent,
        event_data={
            "reason": reason,
            "subject": subject,
            "claimed_tenant_id": str(event.tenant_id),
            "rejected_event_id": str(event.event_id),
        },
    )


def merged(
    dead: list[Result | None], decoded: list[Decoded], applied: list[Result]
) -> list[Result]:
    """One result per event of the batch, in its order: `decode_all`'s dead ones, and the
    results of the valid ones (`applied`, in `decoded`'s order) in the places left. An event
    dead with an audit record to write stays dead, unless that write must be retried."""
    for (i, _, _), result in zip(decoded, applied, strict=True):
        if dead[i] is None or result.outcome is Outcome.RETRY:
            dead[i] = result
    return [r for r in dead if r is not None]


def decode(item: Incoming) -> Event | str:
    """The validated event, or the reason it is not one (for the dead-letter stream)."""
    return decode_body(split_tenant(item.subject)[1], item.data)


def decode_body(subject: str, data: bytes) -> Event | str:
    """`decode` of a body published on `subject` (without its tenant token)."""
    model = model_for_subject(subject)
    if model is None:
        if subject in SYSTEM_SUBJECTS:
            return (
                f"subject {subject!r} is written by the system only: producers may not publish it"
            )
        return f"unknown subject {subject!r}: no event is accepted on it"
    if not data:
        return "empty body: expected a JSON object"
    try:
        return model.model_validate_json(data)
    except ValidationError as e:
        return f"invalid {subject} event: {_not_utf8(data) or summarize(e)}"


SYSTEM_SUBJECTS = frozenset(audit_subject(t) for t in SYSTEM_AUDIT_TYPES)


def _not_utf8(data: bytes) -> str | None:
    """Why the body is not UTF-8, or None: said as such rather than as "Invalid JSON". Only
    on the error path, so a valid body is never decoded twice."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"body is not valid UTF-8 (byte {e.start}): publish UTF-8 JSON"
    return None


def describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:2000]
