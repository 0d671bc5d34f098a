"""Tenant isolation, proven on the keys, not only on the results.

Random multi-tenant workloads (hypothesis) in which tenants deliberately share every id: users,
sessions, conversations, messages, agents, paths. Then every repository method and every
cleanup scoped to tenant A runs through a recording proxy around the real SQLite transaction,
and each key read or written (get, get_many, set, clear, add) and each range read or cleared
(get_range, clear_range) must lie inside `keys.tenant_range(A)`. The only global keys allowed
are listed in `allowed_global_keys`: the job leases and A's entry in the tenant registry.
Results must belong to A, and the other tenants' bytes must be unchanged afterwards.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.audit_types import AuditEventType
from events.enums import AgentType, MessageRole, SettingCategory
from workers.config import Config
from workers.jobs import controls
from workers.jobs.executor import JOBS, run_job
from workers.records import (
    Agent,
    Audit,
    Conversation,
    File,
    FileStep,
    Message,
    Setting,
    version_of,
)
from workers.repositories import (
    AgentRepository,
    AppliedEvents,
    AuditRepository,
    ConversationRepository,
    CursorRepository,
    ErasureRepository,
    FileRepository,
    HoldRepository,
    LeaseRepository,
    MessageRepository,
    Page,
    Repositories,
    RetentionRepository,
    SettingRepository,
    TenantRegistry,
)
from workers.repositories.cursors import Continuation
from workers.repositories.erasures import Erasure
from workers.repositories.holds import Hold
from workers.store.keys import Keys
from workers.store.port import KeyValue, Store, Transaction
from workers.store.sqlite import SqliteStore

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=120)  # the jobs' clock: much of the workload is past retention


# -- the recording proxy ------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    op: str
    begin: bytes
    end: bytes | None = None  # a range: [begin, end); None for a single key


class RecordingTransaction:
    """The real transaction, with every key and range it is asked for written down."""

    def __init__(self, tr: Transaction, log: list[Access]) -> None:
        self.tr, self.log = tr, log

    def get(self, key: bytes) -> bytes | None:
        self.log.append(Access("get", key))
        return self.tr.get(key)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self.log.extend(Access("get_many", k) for k in keys)
        return self.tr.get_many(keys)

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[KeyValue]:
        self.log.append(Access("get_range", begin, end))
        return self.tr.get_range(begin, end, limit, reverse, snapshot)

    def set(self, key: bytes, value: bytes) -> None:
        self.log.append(Access("set", key))
        self.tr.set(key, value)

    def clear(self, key: bytes) -> None:
        self.log.append(Access("clear", key))
        self.tr.clear(key)

    def clear_range(self, begin: bytes, end: bytes) -> None:
        self.log.append(Access("clear_range", begin, end))
        self.tr.clear_range(begin, end)

    def add(self, key: bytes, delta: int) -> None:
        self.log.append(Access("add", key))
        self.tr.add(key, delta)


class RecordingStore:
    """A store whose every transaction, retries included, goes through the proxy."""

    def __init__(self, store: Store, log: list[Access]) -> None:
        self.store, self.log, self.url = store, log, store.url

    async def transact(self, fn: Callable[[Transaction], T]) -> T:
        return await self.store.transact(lambda tr: fn(RecordingTransaction(tr, self.log)))

    def transact_sync(self, fn: Callable[[Transaction], T]) -> T:
        return self.store.transact_sync(lambda tr: fn(RecordingTransaction(tr, self.log)))

    async def read(self, fn: Callable[[Transaction], T]) -> T:
        return await self.store.read(lambda tr: fn(RecordingTransaction(tr, self.log)))

    async def transact_prepared(self, fn: Callable[[Transaction], T]) -> T:
        return await self.store.transact_prepared(lambda tr: fn(RecordingTransaction(tr, self.log)))

    def read_sync(self, fn: Callable[[Transaction], T]) -> T:
        return self.store.read_sync(lambda tr: fn(RecordingTransaction(tr, self.log)))

    async def close(self) -> None:
        await self.store.close()


def allowed_global_keys(keys: Keys, tenant: UUID) -> set[bytes]:
    """Outside the tenant's range, only these: the job leases and A's registry entry."""
    return {keys.leases.key(job) for job in JOBS} | {keys.tenants.key(tenant)}


def escapes(log: list[Access], keys: Keys, tenant: UUID) -> list[Access]:
    """Every access that reaches outside the tenant's range (and is not an allowed key)."""
    low, high = keys.tenant_range(tenant)
    allowed = allowed_global_keys(keys, tenant)
    out = []
    for a in log:
        if a.end is None:
            if not (low <= a.begin < high or a.begin in allowed):
                out.append(a)
        elif not (low <= a.begin and a.end <= high):
            out.append(a)
    return out


# -- random multi-tenant workloads ---------------------------------------------------------


@dataclass
class Ids:
    """Ids every tenant uses: isolation must come from the tenant, never from unique ids."""

    users: list[UUID]
    sessions: list[UUID]
    conversations: list[UUID]
    messages: list[UUID]
    audits: list[UUID]
    files: list[UUID]
    agents: list[UUID]
    events: list[UUID]
    paths: list[str] = field(default_factory=lambda: ["a.py", "b.py", "src/c.py"])


def _uuids(n: int) -> st.SearchStrategy[list[UUID]]:
    return st.lists(st.uuids(), min_size=n, max_size=n, unique=True)


ids_strategy = st.builds(
    Ids,
    users=_uuids(2),
    sessions=_uuids(2),
    conversations=_uuids(3),
    messages=_uuids(4),
    audits=_uuids(4),
    files=_uuids(3),
    agents=_uuids(2),
    events=_uuids(4),
)
day = st.integers(min_value=0, max_value=119).map(lambda d: T0 + timedelta(days=d))
# (kind, index into the shared ids, a day, a flag)
op = st.tuples(
    st.sampled_from(["conversation", "message", "audit", "file", "agent", "setting", "applied"]),
    st.integers(min_value=0, max_value=3),
    day,
    st.booleans(),
)


@dataclass
class Workload:
    tenants: list[UUID]
    ids: Ids
    ops: dict[UUID, list[tuple[str, int, datetime, bool]]]
    holds: dict[UUID, bool]


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    tenants = draw(st.lists(st.uuids(), min_size=2, max_size=3, unique=True))
    ids = draw(ids_strategy)
    ops = {t: draw(st.lists(op, min_size=0, max_size=25)) for t in tenants}
    return Workload(tenants, ids, ops, {t: draw(st.booleans()) for t in tenants})


def _pick(items: list[T], i: int) -> T:
    return items[i % len(items)]


def fill(tr: Transaction, repos: Repositories, tenant: UUID, w: Workload) -> None:
    ids = w.ids
    for kind, i, when, flag in w.ops[tenant]:
        user, session = _pick(ids.users, i), _pick(ids.sessions, i)
        if kind == "conversation":
            conv = Conversation(
                tenant_id=tenant,
                id=_pick(ids.conversations, i),
                user_id=user,
                workspace_session_id=session,
                created_at=when,
                updated_at=when,
            )
            repos.conversations.create(tr, conv)
        elif kind == "message":
            msg = Message(
                tenant_id=tenant,
                id=_pick(ids.messages, i),
                conversation_id=_pick(ids.conversations, i),
                user_id=user,
                role=MessageRole.USER,
                content="x" * (150_000 if flag else 10),  # two chunks when flagged
                token_count=i + 1,
                created_at=when,
            )
            repos.messages.create(tr, msg)
        elif kind == "audit":
            audit = Audit(
                tenant_id=tenant,
                id=_pick(ids.audits, i),
                event_type=AuditEventType.USER_LOGIN if flag else AuditEventType.API_ERROR,
                user_id=user,
                workspace_session_id=session,
                occurred_at=when,
            )
            repos.audit.create(tr, audit)
        elif kind == "file":
            file = File(
                tenant_id=tenant,
                id=_pick(ids.files, i),
                workspace_session_id=session,
                user_id=user,
                file_path=_pick(ids.paths, i),
                created_at=when,
                updated_at=when,
                last_event_at=when,
            )
            if repos.files.create(tr, file) and flag:
                repos.files.soft_delete(tr, tenant, file.id, at=when)
        elif kind == "agent":
            agent = Agent(
                tenant_id=tenant,
                id=_pick(ids.agents, i),
                name="planner",
                agent_type=AgentType.COORDINATOR if flag else AgentType.SPECIALIST,
                created_at=when,
                updated_at=when,
            )
            repos.agents.create(tr, agent)
        elif kind == "setting":
            setting = Setting(
                tenant_id=tenant,
                user_id=user,
                category=SettingCategory.EDITOR if flag else SettingCategory.THEME,
                key=f"k{i}",
                value=i,
                updated_at=when,
            )
            repos.settings.set(tr, setting)
        else:
            repos.applied.mark(tr, tenant, _pick(ids.events, i), int(when.timestamp() * 1000))
        repos.tenants.mark_seen(tr, tenant)


# -- every method, scoped to tenant A ------------------------------------------------------

Call = Callable[[Transaction, Repositories, UUID, Ids], Any]


def _every_page(query: Callable[[str | None], Page[Any]]) -> list[Any]:
    items, after = [], None
    while True:
        page = query(after)
        items.extend(page.items)
        if page.next is None:
            return items
        after = page.next


def _reads(tr: Transaction, r: Repositories, t: UUID, ids: Ids) -> Iterator[Any]:
    """Every query method, over every shared id, paged to the end (pages of one record)."""
    start, end = T0 + timedelta(days=10), T0 + timedelta(days=90)
    for c in ids.conversations:
        yield r.conversations.get_by_id(tr, t, c)
        yield r.conversations.counts(tr, t, c)
        yield r.messages.count_tokens(tr, t, c)
        yield from _every_page(lambda a, c=c: r.messages.list_by_conversation(tr, t, c, 0, 1, a))
        yield from r.messages.list_by_conversation(tr, t, c, offset=1).items
    for s in ids.sessions:
        yield from _every_page(lambda a, s=s: r.conversations.get_by_session(tr, t, s, 1, a))
        yield from _every_page(lambda a, s=s: r.files.list_by_session(tr, t, s, True, 1, a))
        for p in ids.paths:
            yield r.files.get_by_path(tr, t, s, p, include_deleted=True)
    for u in ids.users:
        yield from _every_page(lambda a, u=u: r.conversations.list_by_user(tr, t, u, 1, a))
        yield from _every_page(lambda a, u=u: r.audit.list_by_user(tr, t, u, limit=1, after=a))
        yield from r.audit.list_by_user(tr, t, u, start, end).items
        yield from _every_page(lambda a, u=u: r.settings.get_all(tr, t, u, None, 1, a))
        for cat in SettingCategory:
            yield from r.settings.get_all(tr, t, u, cat).items
            yield r.settings.get(tr, t, u, cat, "k0")
    yield from _every_page(lambda a: r.conversations.list_by_tenant(tr, t, 1, a))
    for m in ids.messages:
        yield r.messages.get_by_id(tr, t, m)
    for a_id in ids.audits:
        yield r.audit.get_by_id(tr, t, a_id)
    for kind in AuditEventType:
        yield from r.audit.list_by_event(tr, t, kind).items
    yield from _every_page(lambda a: r.audit.list_by_date(tr, t, limit=1, after=a))
    yield from r.audit.list_by_date(tr, t, start, end).items
    for f in ids.files:
        yield r.files.get_by_id(tr, t, f)
    for g in ids.agents:
        yield r.agents.get_by_id(tr, t, g)
    yield from _every_page(lambda a: r.agents.list_by_tenant(tr, t, 1, a))
    for agent_type in AgentType:
        yield from r.agents.list_by_type(tr, t, agent_type).items
    for cat in SettingCategory:
        yield from _every_page(lambda a, cat=cat: r.settings.list_by_category(tr, t, cat, 1, a))
    yield r.applied.applied(tr, [(t, e) for e in ids.events])
    for spec in r.specs():
        yield from _every_page(lambda a, spec=spec: r.tenants.records(tr, spec, t, 1, a))


def _retitled(t: UUID, c: UUID, when: datetime, old: Conversation | None) -> Conversation:
    if old is None:
        return Conversation(tenant_id=t, id=c, created_at=when, updated_at=when)
    return old.model_copy(update={"title": "folded"})


def _renamed(t: UUID, g: UUID, when: datetime, old: Agent | None) -> Agent:
    if old is None:
        return Agent(
            tenant_id=t,
            id=g,
            name="n",
            agent_type=AgentType.SUB_AGENT,
            created_at=when,
            updated_at=when,
        )
    return old.model_copy(update={"name": "folded"})


def _writes(tr: Transaction, r: Repositories, t: UUID, ids: Ids) -> None:
    """The scoped writers: updates, deletes, counters, marks, and creates of A's records."""
    when = T0 + timedelta(days=1)
    for c in ids.conversations:
        conv = r.conversations.get_by_id(tr, t, c)
        if conv is not None:
            r.conversations.update(tr, conv.model_copy(update={"title": "renamed"}))
        r.conversations.add_counts(tr, t, c, 1, 5)
    r.conversations.delete(tr, t, ids.conversations[0])
    r.messages.delete(tr, t, ids.messages[0])
    r.audit.delete(tr, t, ids.audits[0])
    f = ids.files[0]
    r.files.soft_delete(tr, t, f, at=when)
    r.files.restore(tr, t, f, at=when, step_id=ids.events[0])
    if (file := r.files.get_by_id(tr, t, ids.files[1])) is not None:
        r.files.update(tr, file.model_copy(update={"mime_type": "text/plain"}))
        r.files.purge(tr, file)
    if (agent := r.agents.get_by_id(tr, t, ids.agents[0])) is not None:
        r.agents.update(tr, agent.model_copy(update={"name": "renamed"}))
    r.agents.delete(tr, t, ids.agents[1])
    r.settings.delete(tr, t, ids.users[0], SettingCategory.EDITOR, "k0")
    # the convergent writers the handlers use: a tombstone, a newer value, folds of records
    late = version_of(when, ids.events[0])
    r.settings.apply_change(tr, t, ids.users[1], SettingCategory.EDITOR, "k1", late, None)
    r.settings.apply_change(
        tr,
        t,
        ids.users[1],
        SettingCategory.EDITOR,
        "k2",
        late,
        Setting(
            tenant_id=t,
            user_id=ids.users[1],
            category=SettingCategory.EDITOR,
            key="k2",
            value=1,
            updated_at=when,
            version=late,
        ),
    )
    r.conversations.merge_many(
        tr, [(t, c, partial(_retitled, t, c, when)) for c in ids.conversations]
    )
    for g in ids.agents:
        r.agents.merge(tr, t, g, partial(_renamed, t, g, when))
    r.applied.mark(tr, t, ids.events[0], 0)
    steps = [
        FileStep(
            tenant_id=t,
            workspace_session_id=ids.sessions[0],
            version=version_of(when + timedelta(minutes=minute), ids.events[n]),
            change=change,
            file_path=path,
            previous_path=previous,
            event_id=ids.events[n],
            occurred_at=when + timedelta(minutes=minute),
        )
        for n, (change, path, previous, minute) in enumerate(
            [
                ("created", "a.py", None, 0),
                ("renamed", "b.py", "a.py", 2),
                ("modified", "a.py", None, 1),
            ]
        )
    ]  # the last is late: a re-fold over both paths
    r.files.apply_many(tr, steps)
    r.files.apply(tr, steps[0])  # a duplicate
    conv = Conversation(tenant_id=t, id=ids.conversations[1], created_at=when, updated_at=when)
    r.conversations.create(tr, conv)
    message = Message(
        tenant_id=t,
        id=ids.messages[1],
        conversation_id=ids.conversations[1],
        role=MessageRole.USER,
        content="hi",
        created_at=when,
    )
    r.messages.create_many(tr, [message])
    r.messages.create(tr, message)
    audit = Audit(tenant_id=t, id=ids.audits[1], event_type="UserLogin", occurred_at=when)
    r.audit.create_many(tr, [audit])
    r.audit.add(tr, audit.model_copy(update={"id": ids.audits[2]}))
    r.audit.create(tr, audit.model_copy(update={"id": ids.audits[3]}))
    file = File(
        tenant_id=t,
        id=ids.files[2],
        workspace_session_id=ids.sessions[0],
        file_path="new.py",
        created_at=when,
        updated_at=when,
        last_event_at=when,
    )
    r.files.create(tr, file)
    agent = Agent(
        tenant_id=t,
        id=ids.agents[1],
        name="new",
        agent_type=AgentType.SUB_AGENT,
        created_at=when,
        updated_at=when,
    )
    r.agents.create(tr, agent)
    setting = Setting(
        tenant_id=t,
        user_id=ids.users[1],
        category=SettingCategory.LLM,
        key="model",
        value="x",
        updated_at=when,
    )
    r.settings.set(tr, setting)


def _job_state(tr: Transaction, r: Repositories, t: UUID, ids: Ids) -> None:
    """What the jobs and their operators keep for A: holds, overrides, cursors, leases."""
    hold = Hold(tenant_id=t, kind="session", subject_id=ids.sessions[1], reason="x", created_at=T0)
    r.holds.put(tr, hold)
    assert hold in r.holds.list(tr, t)
    r.holds.delete(tr, t, "session", ids.sessions[1])
    r.retention.set(tr, t, "files", 7)
    r.retention.get(tr, t)
    r.retention.clear(tr, t, "files")
    cont = Continuation(run_id=ids.events[0], started_at=T0, owner="me", seq=1, after=b"\x01")
    r.cursors.save(tr, t, "audit", cont)
    assert r.cursors.get(tr, t, "audit") == cont
    r.cursors.clear(tr, t, "audit")
    for job in JOBS:
        r.leases.acquire(tr, job, "me", NOW, 60)
        r.leases.renew(tr, job, "me", NOW, 60)
        r.leases.get(tr, job)
        r.leases.release(tr, job, "me")


def _erasure(tr: Transaction, r: Repositories, t: UUID, ids: Ids) -> None:
    """What `subject erase` does to A's user: its marker and the batches that remove or
    pseudonymise the user's records."""
    user = ids.users[0]
    r.erasures.put(tr, t, user, Erasure(run_id=ids.events[0], started_at=T0))
    assert r.erasures.get(tr, t, user) is not None
    assert r.erasures.erased_among(tr, [(t, user)]) == {(t, user): ids.events[0]}
    r.conversations.clear_counts(tr, t, ids.conversations[1])
    if (message := r.messages.get_by_id(tr, t, ids.messages[1])) is not None:
        r.messages.remove(tr, message)
    while r.settings.erase_user_batch(tr, t, user, 2):
        pass
    while r.audit.pseudonymise_batch(tr, t, user, 2):
        pass


def _cleanup_batches(tr: Transaction, r: Repositories, t: UUID, ids: Ids) -> None:
    cutoff = T0 + timedelta(days=60)
    for step in (
        lambda after: r.audit.cleanup_batch(tr, t, cutoff, 2, after),
        lambda after: r.files.purge_batch(tr, t, cutoff, 2, after),
        lambda after: r.applied.expire_batch(tr, t, int(cutoff.timestamp() * 1000), 2, after),
        lambda after: r.applied.expire_batch(tr, t, 2**53, 2, after, dry_run=True),
        lambda after: r.settings.expire_tombstones(tr, t, 2**53, 2, after),
        lambda after: r.files.history.compact_batch(
            tr, t, int(cutoff.timestamp() * 1000), 2, after
        ),
    ):
        after: bytes | None = None
        while True:
            _, _, after = step(after)
            if after is None:
                break


COVERED: dict[type, set[str]] = {
    ConversationRepository: {
        "create",
        "get_by_id",
        "get_by_session",
        "list_by_user",
        "list_by_tenant",
        "update",
        "delete",
        "add_counts",
        "counts",
        "merge_many",
        "clear_counts",
    },
    MessageRepository: {
        "create",
        "create_many",
        "get_by_id",
        "list_by_conversation",
        "delete",
        "count_tokens",
        "remove",
    },
    AuditRepository: {
        "create",
        "create_many",
        "add",
        "get_by_id",
        "list_by_user",
        "list_by_event",
        "list_by_date",
        "delete",
        "cleanup_batch",
        "cleanup_old_events",
        "pseudonymise_batch",
    },
    FileRepository: {
        "create",
        "get_by_id",
        "get_by_path",
        "list_by_session",
        "update",
        "soft_delete",
        "restore",
        "apply",
        "apply_many",
        "purge",
        "purge_batch",
        "cleanup_deleted",
    },
    AgentRepository: {
        "create",
        "get_by_id",
        "list_by_tenant",
        "list_by_type",
        "update",
        "delete",
        "merge",
    },
    SettingRepository: {
        "set",
        "get",
        "get_all",
        "delete",
        "list_by_category",
        "apply_change",
        "expire_tombstones",
        "erase_user_batch",
    },
    AppliedEvents: {"applied", "mark", "expire_batch"},
    HoldRepository: {"put", "delete", "list"},
    RetentionRepository: {"get", "set", "clear"},
    CursorRepository: {"get", "save", "clear"},
    ErasureRepository: {"get", "put", "erased_among"},
    # leases are global by design: one key per job, each an allowed key
    LeaseRepository: {"get", "acquire", "renew", "release"},
    # the registry is global by design: `mark_seen(A)` writes A's entry (an allowed key), and
    # `list` / `all` are what the jobs and the check use to visit every tenant
    TenantRegistry: {"mark_seen", "list", "all", "records", "summary"},
}
"""The public methods this file drives for tenant A (`spec` only describes keys)."""


def test_every_public_repository_method_is_driven_here() -> None:
    for cls, covered in COVERED.items():
        public = {
            name
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name != "spec"
        }
        assert public <= covered, f"{cls.__name__}: add {sorted(public - covered)} to this test"


# -- the property --------------------------------------------------------------------------


async def _snapshot(store: Store, keys: Keys, tenants: list[UUID]) -> list[KeyValue]:
    def read(tr: Transaction) -> list[KeyValue]:
        return [kv for t in tenants for kv in tr.get_range(*keys.tenant_range(t))]

    return await store.transact(read)


def now() -> datetime:
    return NOW


def _tenant_of(item: Any) -> UUID | None:
    found = getattr(item, "tenant_id", None)
    return UUID(str(found)) if found is not None else None


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(w=workloads(), dry_run=st.booleans())
async def test_everything_scoped_to_a_tenant_touches_only_its_keys(
    w: Workload, dry_run: bool
) -> None:
    repos = Repositories()
    keys = repos.keys
    a, others = w.tenants[0], w.tenants[1:]
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "isolation.db")
        log: list[Access] = []
        recording = RecordingStore(store, log)
        try:
            for t in w.tenants:
                await store.transact(lambda tr, t=t: fill(tr, repos, t, w))
                if w.holds[t]:
                    await controls.add_hold(store, repos, t, "user", w.ids.users[0], "legal")
            before = await _snapshot(store, keys, others)

            results = await recording.transact(lambda tr: list(_reads(tr, repos, a, w.ids)))
            for item in results:
                for one in item if isinstance(item, tuple) else [item]:
                    assert _tenant_of(one) in (a, None), f"{one!r} is not tenant {a}'s"
            await recording.transact(lambda tr: _cleanup_batches(tr, repos, a, w.ids))
            await repos.audit.cleanup_old_events(recording, a, 30, now=NOW, batch=2)
            await repos.files.cleanup_deleted(recording, a, 30, now=NOW, batch=2)
            await repos.cleanup_past_horizon(recording, a, 0, now=NOW, batch=2)
            summary = await repos.tenants.summary(recording, repos.specs(), a)
            assert summary.tenant_id == a
            job_settings = Config(purge_batch_size=2, _env_file=None)  # type: ignore[call-arg]
            for job in JOBS:
                summary = await run_job(
                    job,
                    recording,
                    repos,
                    job_settings,
                    tenant=a,
                    dry_run=dry_run,
                    clock=lambda: NOW,
                )
                assert [r.tenant for r in summary.tenants] == [a]
            await recording.transact(lambda tr: _writes(tr, repos, a, w.ids))
            await recording.transact(lambda tr: _job_state(tr, repos, a, w.ids))
            await recording.transact(lambda tr: _erasure(tr, repos, a, w.ids))

            assert log, "nothing was recorded"
            assert escapes(log, keys, a) == []
            assert await _snapshot(store, keys, others) == before
        finally:
            await store.close()


def test_an_access_outside_the_tenant_is_caught() -> None:
    """The checker itself: a key of another tenant, a range spanning two, a stray global key."""
    keys = Keys()
    a, b = UUID(int=1), UUID(int=2)
    inside = keys.tenant(a).files.key(UUID(int=3))
    assert escapes([Access("get", inside), Access("set", keys.leases.key("files"))], keys, a) == []
    stray = [
        Access("get", keys.tenant(b).files.key(UUID(int=3))),
        Access("get_range", keys.tenant_range(a)[0], keys.tenant_range(b)[1]),
        Access("clear_range", *keys.everything()),
        Access("set", keys.tenants.key(b)),
        Access("get_range", *keys.tenants.range()),
    ]
    assert escapes(stray, keys, a) == stray
