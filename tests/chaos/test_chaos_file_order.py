"""Out-of-order events the chaos oracle once caught, each in the arrival order that broke it.

The final state must not depend on arrival order: it is the fold of the events sorted by
(occurred_at, event_id). With two workers on one durable, or any redelivery after a crash,
arrival order is not publish order, so each case below happens in production. Each test applies
the events straight through the ingestor (no NATS needed) and states the outcome of the fold.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from events.enums import SettingCategory
from tests.workers.ingest.events_factory import dumps, envelope, file_changed, later
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome
from workers.repositories import Repositories
from workers.store.sqlite import SqliteStore

TENANT, SESSION, USER = uuid.uuid4(), uuid.uuid4(), uuid.UUID(int=1)


@pytest.fixture
async def ingestor(tmp_path: Path) -> AsyncIterator[Ingestor]:
    store = SqliteStore(tmp_path / "order.db")
    yield Ingestor(store, Repositories())
    await store.close()


async def apply(ingestor: Ingestor, *events: tuple[str, dict[str, Any]]) -> None:
    """One event per batch, in the order given (as a second worker or a redelivery would)."""
    for subject, body in events:
        [result] = await ingestor.apply([Incoming(subject, dumps(body))])
        assert result.outcome is Outcome.APPLIED, result


async def files(ingestor: Ingestor) -> dict[str, tuple[str | None, bool]]:
    page = await ingestor.store.transact(
        lambda tr: ingestor.repos.files.list_by_session(tr, TENANT, SESSION, True, 100)
    )
    return {f.file_path: (f.checksum, f.is_deleted) for f in page.items}


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def fc(change: str, path: str, minute: int, content: bytes = b"", **extra: Any) -> Any:
    return "file.changed", file_changed(
        TENANT, SESSION, change, path, content, later(minute), **extra
    )


async def test_in_publish_order_the_newest_content_wins(ingestor: Ingestor) -> None:
    """The control: the same fixture and checks pass when nothing arrives out of order."""
    await apply(ingestor, fc("created", "a.py", 0, b"v0"), fc("modified", "a.py", 1, b"v1"))
    await apply(ingestor, fc("modified", "a.py", 2, b"v2"), fc("deleted", "a.py", 3))
    assert await files(ingestor) == {"a.py": (sha(b"v2"), True)}


async def test_an_access_does_not_hide_an_older_modification(ingestor: Ingestor) -> None:
    await apply(
        ingestor,
        fc("created", "a.py", 0, b"v0"),
        fc("accessed", "a.py", 2),
        fc("modified", "a.py", 1, b"v1"),  # happened before the access, arrives after it
    )
    assert await files(ingestor) == {"a.py": (sha(b"v1"), False)}


async def test_an_early_access_does_not_erase_the_content(ingestor: Ingestor) -> None:
    await apply(ingestor, fc("accessed", "a.py", 2), fc("created", "a.py", 0, b"v0"))
    assert await files(ingestor) == {"a.py": (sha(b"v0"), False)}


async def test_an_older_modification_arriving_after_the_delete_does_not_revive_the_file(
    ingestor: Ingestor,
) -> None:
    await apply(
        ingestor,
        fc("created", "a.py", 0, b"v0"),
        fc("deleted", "a.py", 3),
        fc("modified", "a.py", 2, b"v2"),  # before the delete, arrives after it
    )
    # still deleted, with its last content before the delete (what a restore brings back)
    assert await files(ingestor) == {"a.py": (sha(b"v2"), True)}


async def test_a_delete_arriving_before_the_create_still_deletes(ingestor: Ingestor) -> None:
    await apply(ingestor, fc("deleted", "a.py", 2), fc("created", "a.py", 0, b"v0"))
    assert await files(ingestor) == {"a.py": (sha(b"v0"), True)}


async def test_an_older_event_for_a_renamed_path_does_not_create_a_phantom(
    ingestor: Ingestor,
) -> None:
    await apply(
        ingestor,
        fc("created", "old.py", 0, b"v0"),
        fc("renamed", "new.py", 2, previous_path="old.py"),
        fc("modified", "old.py", 1, b"v1"),  # before the rename, arrives after it
    )
    assert await files(ingestor) == {"new.py": (sha(b"v1"), False)}


async def test_a_deleted_setting_is_not_revived_by_an_older_change(ingestor: Ingestor) -> None:
    def change(minute: int, **extra: Any) -> tuple[str, dict[str, Any]]:
        body = envelope(TENANT, later(minute), category="editor", key="tabSize", **extra)
        return "setting.changed", body

    await apply(ingestor, change(0, value=2), change(2, deleted=True), change(1, value=4))
    found = await ingestor.store.transact(
        lambda tr: ingestor.repos.settings.get(tr, TENANT, USER, SettingCategory.EDITOR, "tabSize")
    )
    assert found is None
