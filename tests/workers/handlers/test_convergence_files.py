"""Files converge: a session's files are the fold of its file.changed events sorted by
(occurred_at, event_id), whatever order they arrive in, with redeliveries. `fold` below writes
the semantics out: what each change does to the live file at a path and to the gone ones.

Everything goes through the real `Ingestor` over SQLite, one event per batch. The examples
spell out the patterns an editor and a file monitor produce (atomic saves, renames, chains of
renames, deletes and re-creates, accesses, equal times) in orders that arrive out of time
order. The property tests mix generated file sessions with settings, conversations and agents,
and compare every read of the files, the other models and the audit against the sorted order,
and the sorted order against a fold written here from the semantics.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.audit_types import AuditEventType
from tests.workers.handlers.convergence import (
    PROPERTY,
    SESSIONS,
    TENANT,
    USERS,
    Event,
    Reads,
    agent_events,
    apply,
    audit_records,
    converges,
    conversation_events,
    dump,
    dump_one,
    eid,
    ids,
    in_time_order,
    ingestor_fixture,  # noqa: F401 (the `ingestor` fixture)
    model_state,
    read,
    redelivered,
    setting_events,
    state_after,
    unique,
)
from tests.workers.ingest.events_factory import file_changed, later
from workers.ids import derived_id
from workers.ingest.ingestor import Ingestor
from workers.records import File
from workers.repositories import Repositories
from workers.store.port import Transaction

SESSION = SESSIONS[0]
PATHS = ("a.py", "b.py", "c.py", "d.py")
TEMPS = ("a.py.tmp", "~save")
NAMES = PATHS + TEMPS
CONTENTS = (b"", b"v1", b"v2", b"v3")
FILE_AUDITED = (
    AuditEventType.FILE_CREATED,
    AuditEventType.FILE_UPDATED,
    AuditEventType.FILE_DELETED,
    AuditEventType.FILE_ACCESSED,
)
AUDIT_TYPE = {
    "created": AuditEventType.FILE_CREATED,
    "modified": AuditEventType.FILE_UPDATED,
    "renamed": AuditEventType.FILE_UPDATED,
    "deleted": AuditEventType.FILE_DELETED,
    "accessed": AuditEventType.FILE_ACCESSED,
}
EVENT_ONLY = {"source", "file_path", "previous_path", "change", "checksum", "file_size"}


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def fid(n: int) -> uuid.UUID:
    """The id of the file made by event `n`: derived from the tenant and the event id."""
    return derived_id(TENANT, uuid.UUID(eid(n)))


def fc(change: str, path: str, minute: int, n: int, content: bytes = b"", **extra: Any) -> Event:
    body = file_changed(TENANT, SESSION, change, path, content, later(minute), event_id=eid(n))
    return "file.changed", body | extra


def renamed(source: str, target: str, minute: int, n: int) -> Event:
    return fc("renamed", target, minute, n, previous_path=source)


async def at_path(ingestor: Ingestor, path: str, include_deleted: bool = False) -> File | None:
    found: File | None = await read(
        ingestor, lambda tr, r: r.files.get_by_path(tr, TENANT, SESSION, path, include_deleted)
    )
    return found


async def every_file(ingestor: Ingestor, include_deleted: bool = True) -> list[File]:
    page = await read(
        ingestor,
        lambda tr, r: r.files.list_by_session(tr, TENANT, SESSION, include_deleted, 1000),
    )
    files: list[File] = page.items
    return files


async def audits(ingestor: Ingestor) -> dict[str, list[tuple[AuditEventType, dict[str, Any]]]]:
    """Every file audit record, by event id."""

    def all_of(tr: Transaction, repos: Repositories) -> Any:
        return [
            a
            for kind in FILE_AUDITED
            for a in repos.audit.list_by_event(tr, TENANT, kind, limit=1000).items
        ]

    out: dict[str, list[tuple[AuditEventType, dict[str, Any]]]] = {}
    for a in await read(ingestor, all_of):
        out.setdefault(str(a.event_id), []).append((a.event_type, a.event_data))
    return out


def orders(events: Sequence[Event]) -> list[list[Event]]:
    return [list(p) for p in itertools.permutations(events)]


# -- the patterns, each in the orders that arrive out of time order --------------------------

ATOMIC_SAVE = [
    fc("created", "a.py", 0, 1, b"old"),
    fc("created", "a.py.tmp", 1, 2, b"new!"),
    renamed("a.py.tmp", "a.py", 2, 3),
]


@pytest.mark.parametrize("order", orders(ATOMIC_SAVE))
async def test_an_atomic_save_keeps_the_files_id_and_the_temp_file_is_gone(
    ingestor: Ingestor, order: list[Event]
) -> None:
    await apply(ingestor, order)
    saved = await at_path(ingestor, "a.py")
    assert saved is not None
    assert (saved.id, saved.checksum, saved.file_size) == (fid(1), sha(b"new!"), 4)
    assert not saved.is_deleted
    assert await at_path(ingestor, "a.py.tmp") is None
    temp = await at_path(ingestor, "a.py.tmp", include_deleted=True)
    assert temp is not None
    assert (temp.id, temp.file_path, temp.checksum) == (fid(2), "a.py.tmp", sha(b"new!"))
    assert (temp.is_deleted, temp.deleted_at) == (True, later(2))
    assert {f.id for f in await every_file(ingestor)} == {fid(1), fid(2)}


async def test_a_rename_arriving_before_its_files_created_moves_that_file(
    ingestor: Ingestor,
) -> None:
    await apply(ingestor, [renamed("a.py", "b.py", 1, 2), fc("created", "a.py", 0, 1, b"v1")])
    moved = await at_path(ingestor, "b.py")
    assert moved is not None
    assert (moved.id, moved.checksum, moved.file_size, moved.file_path) == (
        fid(1),
        sha(b"v1"),
        2,
        "b.py",
    )
    assert await at_path(ingestor, "a.py") is None
    assert await at_path(ingestor, "a.py", include_deleted=True) is None  # it moved: never gone
    assert [f.id for f in await every_file(ingestor)] == [fid(1)]


async def test_a_modified_arriving_before_its_created_keeps_the_created_files_id(
    ingestor: Ingestor,
) -> None:
    await apply(ingestor, [fc("modified", "a.py", 1, 2, b"v2"), fc("created", "a.py", 0, 1, b"v1")])
    found = await at_path(ingestor, "a.py")
    assert found is not None
    assert (found.id, found.checksum, found.created_at) == (fid(1), sha(b"v2"), later(0))
    assert [f.id for f in await every_file(ingestor)] == [fid(1)]


async def test_a_chain_of_renames_in_reverse_order_ends_as_one_file_at_its_last_path(
    ingestor: Ingestor,
) -> None:
    chain = [
        fc("created", "a.py", 0, 1, b"v1"),
        renamed("a.py", "b.py", 1, 2),
        renamed("b.py", "c.py", 2, 3),
    ]
    await apply(ingestor, chain[::-1])
    live = await every_file(ingestor, include_deleted=False)
    assert [(f.id, f.file_path, f.checksum) for f in live] == [(fid(1), "c.py", sha(b"v1"))]
    assert (await at_path(ingestor, "a.py"), await at_path(ingestor, "b.py")) == (None, None)
    assert [f.id for f in await every_file(ingestor)] == [fid(1)]


async def test_a_delete_arriving_before_its_created_ends_deleted_with_that_content(
    ingestor: Ingestor,
) -> None:
    await apply(ingestor, [fc("deleted", "p.py", 1, 2), fc("created", "p.py", 0, 1, b"v1")])
    assert await at_path(ingestor, "p.py") is None
    gone = await at_path(ingestor, "p.py", include_deleted=True)
    assert gone is not None
    assert (gone.id, gone.checksum, gone.file_size) == (fid(1), sha(b"v1"), 2)
    assert (gone.is_deleted, gone.deleted_at) == (True, later(1))


RECREATED = [
    fc("created", "p.py", 0, 1, b"v1"),
    fc("deleted", "p.py", 1, 2),
    fc("created", "p.py", 2, 3, b"v2"),
]


@pytest.mark.parametrize("order", orders(RECREATED))
async def test_a_recreated_path_has_the_gone_file_and_a_new_live_one(
    ingestor: Ingestor, order: list[Event]
) -> None:
    await apply(ingestor, order)
    files = {f.id: f for f in await every_file(ingestor)}
    assert set(files) == {fid(1), fid(3)}
    first, second = files[fid(1)], files[fid(3)]
    assert (first.file_path, first.checksum) == ("p.py", sha(b"v1"))
    assert (first.is_deleted, first.deleted_at) == (True, later(1))
    assert (second.file_path, second.checksum) == ("p.py", sha(b"v2"))
    assert (second.is_deleted, second.deleted_at, second.created_at) == (False, None, later(2))
    live = await at_path(ingestor, "p.py")
    assert live is not None and live.id == fid(3)


@pytest.mark.parametrize("arrival", [(0, 1), (1, 0)])
async def test_equal_times_the_higher_event_id_sets_the_content(
    ingestor: Ingestor, arrival: tuple[int, int]
) -> None:
    both = [fc("modified", "p.py", 1, 5, b"low id"), fc("modified", "p.py", 1, 9, b"high id")]
    await apply(ingestor, [fc("created", "p.py", 0, 1, b"v0"), *(both[i] for i in arrival)])
    found = await at_path(ingestor, "p.py")
    assert found is not None
    assert (found.id, found.checksum) == (fid(1), sha(b"high id"))


@pytest.mark.parametrize("arrival", [(0, 1), (1, 0)])
@pytest.mark.parametrize("delete_wins", [True, False])
async def test_equal_times_the_higher_event_id_is_the_later_of_create_and_delete(
    ingestor: Ingestor, arrival: tuple[int, int], delete_wins: bool
) -> None:
    low, high = 5, 9
    created = fc("created", "p.py", 1, low if delete_wins else high, b"v1")
    deleted = fc("deleted", "p.py", 1, high if delete_wins else low)
    await apply(ingestor, [(created, deleted)[i] for i in arrival])
    found = await at_path(ingestor, "p.py", include_deleted=True)
    assert found is not None
    assert (found.id, found.checksum) == (fid(low if delete_wins else high), sha(b"v1"))
    # created then deleted: gone; deleted (of nothing) then created: live
    assert found.is_deleted is delete_wins
    assert len(await every_file(ingestor)) == 1


async def test_of_files_gone_at_one_path_at_one_moment_the_last_by_event_id_is_shown(
    ingestor: Ingestor,
) -> None:
    """Created, deleted, re-created, deleted, all at one moment: the event ids order them, and
    `get_by_path(include_deleted=True)` shows the file the last delete took (event 12), not
    the one whose id sorts last."""
    await apply(
        ingestor,
        [
            fc("deleted", "p.py", 1, 3),
            fc("created", "p.py", 1, 2, b"first"),
            fc("deleted", "p.py", 1, 12),
            fc("created", "p.py", 1, 11, b"second"),
        ],
    )
    assert fid(2).bytes > fid(11).bytes  # the ids alone would pick the first file
    found = await at_path(ingestor, "p.py", include_deleted=True)
    assert found is not None and (found.id, found.is_deleted) == (fid(11), True)
    assert found.checksum == sha(b"second")


async def test_an_access_counts_only_on_a_live_file_whenever_it_arrives(
    ingestor: Ingestor,
) -> None:
    await apply(
        ingestor,
        [
            fc("accessed", "p.py", 1, 2),  # arrives before the created it follows
            fc("accessed", "q.py", 1, 3),  # no file at q.py: nothing
            fc("created", "p.py", 0, 1, b"v1"),
        ],
    )
    [only] = await every_file(ingestor)
    assert (only.id, only.file_path, only.last_accessed_at) == (fid(1), "p.py", later(1))


async def test_every_file_event_is_audited_once_and_describes_the_event_alone(
    ingestor: Ingestor,
) -> None:
    events = [
        renamed("a.py", "b.py", 1, 2),
        fc("created", "a.py", 0, 1, b"v1"),
        fc("accessed", "b.py", 2, 3),
        fc("deleted", "b.py", 3, 4),
    ]
    await apply(ingestor, [*events, events[0]])  # with a redelivery
    created = {"checksum": sha(b"v1"), "file_size": 2}
    assert await audits(ingestor) == {
        eid(1): [(AuditEventType.FILE_CREATED, said("created", "a.py") | created)],
        eid(2): [(AuditEventType.FILE_UPDATED, said("renamed", "b.py", previous_path="a.py"))],
        eid(3): [(AuditEventType.FILE_ACCESSED, said("accessed", "b.py"))],
        eid(4): [(AuditEventType.FILE_DELETED, said("deleted", "b.py"))],
    }


def said(change: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"source": "file-monitor", "file_path": path, "change": change, **extra}


# -- generated file sessions ------------------------------------------------------------------


KINDS = (
    "created",
    "modified",
    "deleted",
    "accessed",
    "renamed",
    "atomic save",
    "chain",
    "re-create",
)


@st.composite
def file_histories(draw: st.DrawFn, most: int = 25) -> list[Event]:
    """Up to `most` file events from what an editor does: single changes, renames, atomic
    saves, chains of renames, deletes and re-creates. Over six names and two sessions (mostly
    the first), a minute apart or at the same time (ties broken by event id)."""
    size = draw(st.integers(1, most))
    clock = draw(st.integers(0, 2))
    events: list[Event] = []

    def event(change: str, path: str, session: uuid.UUID, **extra: Any) -> Event:
        nonlocal clock
        clock += draw(st.integers(0, 1))
        content = draw(st.sampled_from(CONTENTS)) if change in ("created", "modified") else b""
        body = file_changed(
            TENANT,
            session,
            change,
            path,
            content,
            later(clock),
            event_id=eid(draw(ids)),
            user=draw(st.sampled_from(USERS)),
            **extra,
        )
        return "file.changed", body

    names, paths = st.sampled_from(NAMES), st.sampled_from(PATHS)
    while len(events) < size:
        session = draw(st.sampled_from([SESSION, SESSION, SESSION, SESSIONS[1]]))
        kind = draw(st.sampled_from(KINDS))
        if kind == "renamed":
            source, target = draw(st.lists(names, min_size=2, max_size=2, unique=True))
            events.append(event("renamed", target, session, previous_path=source))
        elif kind == "atomic save":
            temp, path = draw(st.sampled_from(TEMPS)), draw(paths)
            events.append(event("created", temp, session))
            if draw(st.booleans()):
                events.append(event("modified", temp, session))
            events.append(event("renamed", path, session, previous_path=temp))
        elif kind == "chain":
            a, b, c = draw(st.lists(names, min_size=3, max_size=3, unique=True))
            if draw(st.booleans()):
                events.append(event("created", a, session))
            events.append(event("renamed", b, session, previous_path=a))
            events.append(event("renamed", c, session, previous_path=b))
        elif kind == "re-create":
            path = draw(names)
            events.append(event("deleted", path, session))
            events.append(event("created", path, session))
        else:
            events.append(event(kind, draw(names), session))
    return events[:most]


MODEL_EVENTS = st.lists(
    st.one_of(setting_events(), conversation_events(), agent_events()), max_size=4
)


@st.composite
def sessions(draw: st.DrawFn) -> list[Event]:
    """A file session mixed with a few setting, conversation and agent events."""
    return draw(file_histories()) + draw(MODEL_EVENTS)


def file_reads(history: Sequence[Event]) -> Reads:
    """Every read of the files (by session, by path with and without the gone ones, by every id
    a file can have: one derived from each file event), the file audit, and `model_state`."""
    made = {derived_id(TENANT, uuid.UUID(b["event_id"])) for s, b in history if s == "file.changed"}
    file_ids = sorted(made, key=str)

    def reads(tr: Transaction, repos: Repositories) -> dict[str, Any]:
        files, t = repos.files, TENANT
        out = model_state(tr, repos)
        for s in SESSIONS:
            for deleted in (False, True):
                page = files.list_by_session(tr, t, s, include_deleted=deleted, limit=1000)
                out[f"files {s} {deleted}"] = dump(page.items)
                for p in NAMES:
                    found = files.get_by_path(tr, t, s, p, include_deleted=deleted)
                    out[f"path {s} {p} {deleted}"] = dump_one(found)
        for i in file_ids:
            out[f"id {i}"] = dump_one(files.get_by_id(tr, t, i))
        out["file audit"] = audit_records(tr, repos, FILE_AUDITED)
        return out

    return reads


@PROPERTY
@given(redelivered(sessions(), redeliveries=3))
async def test_files_converge_in_any_arrival_order(case: tuple[list[Event], ...]) -> None:
    await converges(case[0], case[1:], file_reads(case[0]))


# -- the sorted order is the files fold -------------------------------------------------------

CONTENT = ("file_size", "mime_type", "checksum")


def fold(history: Sequence[Event]) -> dict[uuid.UUID, dict[str, dict[str, Any] | None]]:
    """The files fold (the semantics), per session: the live file at each name, else the most
    recently gone one. A file is its id, path, content, last access and deletion time."""
    out: dict[uuid.UUID, dict[str, dict[str, Any] | None]] = {}
    for s in SESSIONS:
        live: dict[str, dict[str, Any]] = {}
        last_gone: dict[str, dict[str, Any]] = {}
        for subject, e in in_time_order(history):
            if subject != "file.changed" or uuid.UUID(e["workspace_session_id"]) != s:
                continue
            at, path = datetime.fromisoformat(e["occurred_at"]), e["file_path"]
            new = {
                "id": derived_id(TENANT, uuid.UUID(e["event_id"])),
                "file_path": path,
                "last_accessed_at": None,
                "is_deleted": False,
                "deleted_at": None,
            } | {k: None for k in CONTENT}
            content = {k: e[k] for k in CONTENT if e.get(k) is not None}
            change = e["change"]
            if change in ("created", "modified"):
                live[path] = live.get(path, new) | content
            elif change == "deleted" and path in live:
                last_gone[path] = live.pop(path) | {"is_deleted": True, "deleted_at": at}
            elif change == "accessed" and path in live:
                live[path]["last_accessed_at"] = at
            elif change == "renamed":
                moving = live.pop(e["previous_path"], None)
                if moving is None:
                    live.setdefault(path, new)
                elif path in live:  # onto a live file: it keeps its id, takes the content
                    live[path] |= {k: moving[k] for k in CONTENT}
                    gone = moving | {"is_deleted": True, "deleted_at": at}
                    last_gone[e["previous_path"]] = gone
                else:
                    live[path] = moving | {"file_path": path}
        out[s] = {p: live.get(p, last_gone.get(p)) for p in NAMES}
    return out


FOLDED = ("id", "file_path", *CONTENT, "last_accessed_at", "is_deleted", "deleted_at")


def fold_reads(tr: Transaction, repos: Repositories) -> dict[str, Any]:
    """What `fold` says of each name (the fields it follows), and the file audit by event."""
    by_name: dict[uuid.UUID, dict[str, dict[str, Any] | None]] = {}
    for s in SESSIONS:
        by_name[s] = {}
        for p in NAMES:
            f = repos.files.get_by_path(tr, TENANT, s, p, include_deleted=True)
            by_name[s][p] = None if f is None else {k: getattr(f, k) for k in FOLDED}
    audited: dict[str, list[tuple[AuditEventType, dict[str, Any]]]] = {}
    for kind in FILE_AUDITED:
        for a in repos.audit.list_by_event(tr, TENANT, kind, limit=1000).items:
            audited.setdefault(str(a.event_id), []).append((a.event_type, a.event_data))
    return {"files": by_name, "audit": audited}


@settings(PROPERTY, max_examples=40)
@given(file_histories().map(unique))
async def test_the_sorted_order_is_the_files_fold(history: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = await state_after(in_time_order(history), Path(tmp) / "sorted.db", fold_reads)
    assert got["files"] == fold(history)
    assert set(got["audit"]) == {b["event_id"] for _, b in history}  # every event, once
    for _, e in history:
        [(kind, data)] = got["audit"][e["event_id"]]
        assert kind is AUDIT_TYPE[e["change"]], (e, kind)
        assert set(data) <= EVENT_ONLY, data  # the event alone: no file id, no stale flag
