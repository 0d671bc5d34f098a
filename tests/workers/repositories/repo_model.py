"""A plain in-memory model of the repositories, and the operations the property test draws.

Each operation runs one repository call through the store, asserts that its return value is
what the model predicts, and then updates the model. Ids come from small fixed pools shared by
both tenants, so operations collide (create an existing id, update a missing one) on purpose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from repo_helpers import at

from events.audit_types import AuditEventType
from events.enums import AgentType, ConversationStatus, MessageRole, SettingCategory
from workers.ids import to_ms
from workers.records import Agent, AgentMemory, Audit, Conversation, File, Message, Setting
from workers.repositories import Repositories
from workers.store.port import Store, Transaction

R = Repositories()
_NS = uuid.UUID("0d9a7c52-3f1e-4b8e-9a61-7c2f4e5d6b10")


def pool(kind: str, n: int) -> list[UUID]:
    return [uuid.uuid5(_NS, f"{kind}-{i}") for i in range(n)]


TENANTS, USERS, SESSIONS = pool("tenant", 2), pool("user", 2), pool("session", 2)
CONVERSATIONS, MESSAGES, AUDITS = pool("conversation", 2), pool("message", 6), pool("audit", 6)
FILES, AGENTS = pool("file", 4), pool("agent", 3)
PATHS, KEYS = ("a.py", "b.py", "c.py"), ("k1", "k2")
CATEGORIES = (SettingCategory.EDITOR, SettingCategory.THEME)
AUDIT_TYPES = (AuditEventType.USER_LOGIN, AuditEventType.USER_LOGOUT, AuditEventType.FILE_CREATED)
BIG = "m" * 120_000  # past one 100 KB value: stored in chunks


@dataclass
class TenantModel:
    conversations: dict[UUID, Conversation] = field(default_factory=dict)
    messages: dict[UUID, Message] = field(default_factory=dict)
    audits: dict[UUID, Audit] = field(default_factory=dict)
    files: dict[UUID, File] = field(default_factory=dict)
    agents: dict[UUID, Agent] = field(default_factory=dict)
    settings: dict[tuple[UUID, SettingCategory, str], Setting] = field(default_factory=dict)

    def count(self, conversation_id: UUID) -> tuple[int, int]:
        """What the counters must say: the conversation's messages, whether or not it exists."""
        mine = [m for m in self.messages.values() if m.conversation_id == conversation_id]
        return len(mine), sum(m.token_count for m in mine)

    def occupant(self, session: UUID, path: str) -> File | None:
        found = [
            f
            for f in self.files.values()
            if (f.workspace_session_id, f.file_path) == (session, path)
        ]
        assert len(found) <= 1, f"model holds two files at {path}"
        return found[0] if found else None


Model = dict[UUID, TenantModel]


@dataclass(frozen=True)
class CreateConversation:
    t: UUID
    cid: UUID
    user: UUID | None
    session: UUID | None
    title: str

    async def run(self, store: Store, m: Model) -> None:
        conv = Conversation(
            tenant_id=self.t,
            id=self.cid,
            user_id=self.user,
            workspace_session_id=self.session,
            title=self.title,
            created_at=at(0),
            updated_at=at(0),
        )
        created = await store.transact(lambda tr: R.conversations.create(tr, conv))
        assert created == (self.cid not in m[self.t].conversations)
        m[self.t].conversations.setdefault(self.cid, conv)


@dataclass(frozen=True)
class UpdateConversation:
    t: UUID
    cid: UUID
    user: UUID | None
    session: UUID | None
    status: ConversationStatus
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        old = m[self.t].conversations.get(self.cid)
        conv = Conversation(
            tenant_id=self.t,
            id=self.cid,
            user_id=self.user,
            workspace_session_id=self.session,
            status=self.status,
            title=old.title if old else None,
            created_at=old.created_at if old else at(0),
            updated_at=at(self.minute),
        )
        assert await store.transact(lambda tr: R.conversations.update(tr, conv)) == (
            old is not None
        )
        if old is not None:
            m[self.t].conversations[self.cid] = conv


@dataclass(frozen=True)
class DeleteConversation:
    t: UUID
    cid: UUID

    async def run(self, store: Store, m: Model) -> None:
        deleted = await store.transact(lambda tr: R.conversations.delete(tr, self.t, self.cid))
        assert deleted == (m[self.t].conversations.pop(self.cid, None) is not None)


@dataclass(frozen=True)
class CreateMessage:
    t: UUID
    mid: UUID
    cid: UUID
    tokens: int
    minute: int
    big: bool

    async def run(self, store: Store, m: Model) -> None:
        msg = Message(
            tenant_id=self.t,
            id=self.mid,
            conversation_id=self.cid,
            role=MessageRole.USER,
            content=BIG if self.big else "hi",
            token_count=self.tokens,
            created_at=at(self.minute),
        )
        created = await store.transact(lambda tr: R.messages.create(tr, msg))
        assert created == (self.mid not in m[self.t].messages)
        m[self.t].messages.setdefault(self.mid, msg)


@dataclass(frozen=True)
class DeleteMessage:
    t: UUID
    mid: UUID

    async def run(self, store: Store, m: Model) -> None:
        deleted = await store.transact(lambda tr: R.messages.delete(tr, self.t, self.mid))
        assert deleted == (m[self.t].messages.pop(self.mid, None) is not None)


@dataclass(frozen=True)
class CreateAudit:
    t: UUID
    aid: UUID
    event_type: AuditEventType
    user: UUID | None
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        audit = Audit(
            tenant_id=self.t,
            id=self.aid,
            event_type=self.event_type,
            user_id=self.user,
            event_data={"minute": self.minute},
            occurred_at=at(self.minute),
        )
        created = await store.transact(lambda tr: R.audit.create(tr, audit))
        assert created == (self.aid not in m[self.t].audits)
        m[self.t].audits.setdefault(self.aid, audit)


@dataclass(frozen=True)
class DeleteAudit:
    t: UUID
    aid: UUID

    async def run(self, store: Store, m: Model) -> None:
        old = await store.transact(lambda tr: R.audit.delete(tr, self.t, self.aid))
        assert old == m[self.t].audits.pop(self.aid, None)


@dataclass(frozen=True)
class CleanupAudit:
    t: UUID
    days: int
    now: int
    batch: int

    async def run(self, store: Store, m: Model) -> None:
        cutoff = to_ms(at(self.now) - timedelta(days=self.days))
        audits = m[self.t].audits
        expired = [a for a in audits.values() if to_ms(a.occurred_at) < cutoff]
        result = await R.audit.cleanup_old_events(
            store, self.t, self.days, at(self.now), self.batch
        )
        assert (result.removed, result.kept) == (len(expired), 0)
        for a in expired:
            del audits[a.id]


@dataclass(frozen=True)
class CreateFile:
    """As the file.changed handler does: a file created at an occupied path replaces it."""

    t: UUID
    fid: UUID
    session: UUID
    path: str
    checksum: str
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        tm, when = m[self.t], at(self.minute)
        file = File(
            tenant_id=self.t,
            id=self.fid,
            workspace_session_id=self.session,
            file_path=self.path,
            checksum=self.checksum,
            created_at=when,
            updated_at=when,
            last_event_at=when,
        )
        if self.fid in tm.files:
            assert not await store.transact(lambda tr: R.files.create(tr, file))
            return
        occupant = tm.occupant(self.session, self.path)

        def fn(tr: Transaction) -> tuple[File | None, bool]:
            found = R.files.get_by_path(tr, self.t, self.session, self.path, include_deleted=True)
            if found is not None:
                R.files.purge(tr, found)
            return found, R.files.create(tr, file)

        assert await store.transact(fn) == (occupant, True)
        if occupant is not None:
            del tm.files[occupant.id]
        tm.files[self.fid] = file


@dataclass(frozen=True)
class UpdateFile:
    """A modify, or a rename when `path` is set (onto an occupied path: the occupant goes)."""

    t: UUID
    fid: UUID
    path: str | None
    checksum: str
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        tm, when = m[self.t], at(self.minute)
        current = tm.files.get(self.fid)
        if current is None:
            ghost = File(
                tenant_id=self.t,
                id=self.fid,
                workspace_session_id=SESSIONS[0],
                file_path=self.path or "ghost.py",
                created_at=when,
                updated_at=when,
                last_event_at=when,
            )
            assert not await store.transact(lambda tr: R.files.update(tr, ghost))
            return
        changed = current.model_copy(
            update={
                "file_path": self.path or current.file_path,
                "checksum": self.checksum,
                "updated_at": when,
                "last_event_at": when,
            }
        )
        session = current.workspace_session_id
        occupant = tm.occupant(session, changed.file_path)
        occupant = None if occupant is None or occupant.id == self.fid else occupant

        def fn(tr: Transaction) -> tuple[File | None, bool]:
            found = R.files.get_by_path(tr, self.t, session, changed.file_path, True)
            if found is not None and found.id != self.fid:
                R.files.purge(tr, found)
            else:
                found = None
            return found, R.files.update(tr, changed)

        assert await store.transact(fn) == (occupant, True)
        if occupant is not None:
            del tm.files[occupant.id]
        tm.files[self.fid] = changed


@dataclass(frozen=True)
class SoftDeleteFile:
    t: UUID
    fid: UUID
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        when, files = at(self.minute), m[self.t].files
        got = await store.transact(lambda tr: R.files.soft_delete(tr, self.t, self.fid, when))
        current = files.get(self.fid)
        if current is not None and not current.is_deleted:
            change = {"is_deleted": True, "deleted_at": when, "updated_at": when}
            files[self.fid] = current = current.model_copy(update=change)
        assert got == current


@dataclass(frozen=True)
class CleanupFiles:
    t: UUID
    days: int
    now: int
    batch: int

    async def run(self, store: Store, m: Model) -> None:
        cutoff = to_ms(at(self.now) - timedelta(days=self.days))
        files = m[self.t].files
        expired = [
            f for f in files.values() if f.deleted_at is not None and to_ms(f.deleted_at) < cutoff
        ]
        result = await R.files.cleanup_deleted(store, self.t, self.days, at(self.now), self.batch)
        assert (result.removed, result.kept) == (len(expired), 0)
        for f in expired:
            del files[f.id]


@dataclass(frozen=True)
class CreateAgent:
    t: UUID
    aid: UUID
    agent_type: AgentType
    name: str
    big: bool

    async def run(self, store: Store, m: Model) -> None:
        memory = AgentMemory(facts={"blob": BIG}) if self.big else AgentMemory()
        agent = Agent(
            tenant_id=self.t,
            id=self.aid,
            name=self.name,
            agent_type=self.agent_type,
            memory=memory,
            created_at=at(0),
            updated_at=at(0),
        )
        created = await store.transact(lambda tr: R.agents.create(tr, agent))
        assert created == (self.aid not in m[self.t].agents)
        m[self.t].agents.setdefault(self.aid, agent)


@dataclass(frozen=True)
class UpdateAgent:
    t: UUID
    aid: UUID
    agent_type: AgentType
    name: str
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        old = m[self.t].agents.get(self.aid)
        base = old or Agent(
            tenant_id=self.t,
            id=self.aid,
            name="ghost",
            agent_type=self.agent_type,
            created_at=at(0),
            updated_at=at(0),
        )
        change = {"agent_type": self.agent_type, "name": self.name, "updated_at": at(self.minute)}
        agent = base.model_copy(update=change)
        assert await store.transact(lambda tr: R.agents.update(tr, agent)) == (old is not None)
        if old is not None:
            m[self.t].agents[self.aid] = agent


@dataclass(frozen=True)
class DeleteAgent:
    t: UUID
    aid: UUID

    async def run(self, store: Store, m: Model) -> None:
        deleted = await store.transact(lambda tr: R.agents.delete(tr, self.t, self.aid))
        assert deleted == (m[self.t].agents.pop(self.aid, None) is not None)


@dataclass(frozen=True)
class SetSetting:
    t: UUID
    user: UUID
    category: SettingCategory
    key: str
    value: int | str
    minute: int

    async def run(self, store: Store, m: Model) -> None:
        setting = Setting(
            tenant_id=self.t,
            user_id=self.user,
            category=self.category,
            key=self.key,
            value=self.value,
            updated_at=at(self.minute),
        )
        previous = await store.transact(lambda tr: R.settings.set(tr, setting))
        assert previous == m[self.t].settings.get((self.user, self.category, self.key))
        m[self.t].settings[(self.user, self.category, self.key)] = setting


@dataclass(frozen=True)
class DeleteSetting:
    t: UUID
    user: UUID
    category: SettingCategory
    key: str

    async def run(self, store: Store, m: Model) -> None:
        old = await store.transact(
            lambda tr: R.settings.delete(tr, self.t, self.user, self.category, self.key)
        )
        assert old == m[self.t].settings.pop((self.user, self.category, self.key), None)


Operation = (
    CreateConversation
    | UpdateConversation
    | DeleteConversation
    | CreateMessage
    | DeleteMessage
    | CreateAudit
    | DeleteAudit
    | CleanupAudit
    | CreateFile
    | UpdateFile
    | SoftDeleteFile
    | CleanupFiles
    | CreateAgent
    | UpdateAgent
    | DeleteAgent
    | SetSetting
    | DeleteSetting
)
