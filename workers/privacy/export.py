"""`subject export`: everything the store holds about one user of a tenant (GDPR articles 15
and 20), as JSON Lines per kind and a manifest with each file's count and SHA-256.

Read page by page (one short read transaction per page, `queries.stream`), written as read:
a user with a million records never has them all in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO
from uuid import UUID

from pydantic import BaseModel

from events import AuditEventType
from workers.reads import queries
from workers.reads.kinds import RecordKind as K
from workers.records import Audit
from workers.repositories import Repositories
from workers.store.port import Store

KINDS = ("conversations", "messages", "files", "settings", "agents", "audit")
"""The files of an export, in the order they are written."""

Progress = Callable[[str, int], None]


@dataclass
class ExportedFile:
    records: int = 0
    sha256: str = ""


@dataclass
class Manifest:
    tenant: UUID
    user: UUID
    exported_at: datetime
    files: dict[str, ExportedFile] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "tenant": str(self.tenant),
            "user": str(self.user),
            "exported_at": self.exported_at.isoformat(),
            "files": {
                f"{kind}.jsonl": {"records": f.records, "sha256": f.sha256}
                for kind, f in self.files.items()
            },
        }


class _Writer:
    """One JSON Lines file, hashed as it is written."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.digest, self.records = out, hashlib.sha256(), 0

    def write(self, record: BaseModel) -> None:
        line = record.model_dump_json().encode() + b"\n"
        self.out.write(line)
        self.digest.update(line)
        self.records += 1


async def export_subject(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    user: UUID,
    out_dir: Path,
    progress: Progress | None = None,
) -> Manifest:
    """Write `<kind>.jsonl` for each of KINDS and `manifest.json` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(tenant, user, datetime.now(UTC))
    sources = _sources(store, repos, tenant, user)
    for kind in KINDS:
        with open(out_dir / f"{kind}.jsonl", "wb") as out:
            writer = _Writer(out)
            async for record in sources[kind]():
                writer.write(record)
                if progress is not None and writer.records % 1000 == 0:
                    progress(kind, writer.records)
        if progress is not None:
            progress(kind, writer.records)
        manifest.files[kind] = ExportedFile(writer.records, writer.digest.hexdigest())
    (out_dir / "manifest.json").write_text(json.dumps(manifest.as_json(), indent=2) + "\n")
    return manifest


def _sources(
    store: Store, repos: Repositories, tenant: UUID, user: UUID
) -> dict[str, Callable[[], AsyncIterator[BaseModel]]]:
    def listing(kind: K, **filters: object) -> AsyncIterator[BaseModel]:
        f = queries.Filters(tenant=tenant, **filters)  # type: ignore[arg-type]
        pages, keep = queries.lister(repos, kind, f)
        return queries.stream(store, pages, f, keep)

    async def messages() -> AsyncIterator[BaseModel]:
        async for conversation in listing(K.CONVERSATION, user=user):
            async for message in listing(K.MESSAGES, conversation=conversation.id):  # type: ignore[attr-defined]
                yield message

    async def agents() -> AsyncIterator[BaseModel]:
        """The agents U configured: named by U's AgentConfigured audit records."""
        seen: set[str] = set()
        async for record in listing(K.AUDIT, user=user, event_type=AuditEventType.AGENT_CONFIGURED):
            assert isinstance(record, Audit)
            agent_id = str((record.event_data or {}).get("agent_id", ""))
            if agent_id and agent_id not in seen:
                seen.add(agent_id)
                found = await store.read(
                    partial(repos.agents.get_by_id, tenant_id=tenant, agent_id=UUID(agent_id))
                )
                if found is not None:
                    yield found

    async def audit() -> AsyncIterator[BaseModel]:
        """U's records, and the DataErased receipt once U is erased (it names only a digest)."""
        async for record in listing(K.AUDIT, user=user):
            yield record
        erasure = await store.read(partial(repos.erasures.get, tenant_id=tenant, user_id=user))
        if erasure is not None and erasure.finished_at is not None:
            receipt = await store.read(
                partial(repos.audit.get_by_id, tenant_id=tenant, audit_id=erasure.run_id)
            )
            if receipt is not None:
                yield receipt

    return {
        "conversations": lambda: listing(K.CONVERSATION, user=user),
        "messages": messages,
        "files": lambda: listing(K.FILES, user=user, include_deleted=True),
        "settings": lambda: listing(K.SETTINGS, user=user),
        "agents": agents,
        "audit": audit,
    }
