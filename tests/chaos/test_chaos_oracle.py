"""The chaos oracle's file fold on hand-written event lists, and the workload that feeds it.

The oracle is the reference the chaos run holds the store to, so it must be able to fail on
its own: each case states what the contract's files fold gives (rename chains, atomic saves,
events arriving in another order than they happened, equal times decided by the event ids).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.chaos_oracle import FileRecord, State, compare, expect, file_id, fold_files
from bench.chaos_workload import build_workload
from workers.ids import derived_id

TENANT, SESSION = "0d9a3c52-6f0e-4b8e-9d43-8a4c2f1e7b10", "5b7e2d40-1c3a-4f6b-8e9d-0a1b2c3d4e5f"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def ev(
    change: str,
    path: str,
    second: int,
    content: bytes | None = None,
    previous: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    at = (T0 + timedelta(seconds=second)).isoformat(timespec="milliseconds")
    body: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "tenant_id": TENANT,
        "workspace_session_id": SESSION,
        "occurred_at": at.replace("+00:00", "Z"),
        "change": change,
        "file_path": path,
    }
    if content is not None:
        body |= {"checksum": sha(content), "file_size": len(content), "mime_type": "text/plain"}
    if previous is not None:
        body["previous_path"] = previous
    return body


def made_by(body: dict[str, Any]) -> str:
    return file_id(TENANT, body["event_id"])


def test_the_copied_id_formula_is_the_systems() -> None:
    event = str(uuid.uuid4())
    assert file_id(TENANT, event) == str(derived_id(uuid.UUID(TENANT), uuid.UUID(event)))
    assert file_id(TENANT.upper(), event.upper()) == file_id(TENANT, event)


def test_a_rename_chain_keeps_the_files_id_whatever_the_arrival_order() -> None:
    created = ev("created", "a.py", 0, b"v0")
    events = [
        created,
        ev("modified", "a.py", 1, b"v1"),
        ev("renamed", "b.py", 2, previous="a.py"),
        ev("modified", "b.py", 3, b"v3"),
        ev("accessed", "b.py", 4),
        ev("renamed", "c.py", 5, previous="b.py"),
    ]
    want = [FileRecord(made_by(created), "c.py", sha(b"v3"), False)]
    assert fold_files(TENANT, events) == want
    assert fold_files(TENANT, events[::-1]) == want  # the renames before the create
    # a modify of a.py older than the rename, arriving last, is no phantom file at a.py
    assert fold_files(TENANT, [*events[:2], *events[3:], events[2]]) == want


def test_an_atomic_save_keeps_the_live_files_id_and_leaves_the_temporary_file_gone() -> None:
    created, tmp1, tmp2 = (
        ev("created", "p.py", 0, b"v0"),
        ev("created", "p.py.tmp~", 1, b"v1"),
        ev("created", "p.py.tmp~", 3, b"v2"),
    )
    events = [
        created,
        tmp1,
        ev("renamed", "p.py", 2, previous="p.py.tmp~"),
        tmp2,
        ev("renamed", "p.py", 4, previous="p.py.tmp~"),
        ev("renamed", "p.py", 5, previous="p.py.tmp~"),  # reported twice: nothing at the source
    ]
    want = [
        FileRecord(made_by(created), "p.py", sha(b"v2"), False),
        FileRecord(made_by(tmp1), "p.py.tmp~", sha(b"v1"), True),
        FileRecord(made_by(tmp2), "p.py.tmp~", sha(b"v2"), True),
    ]
    assert fold_files(TENANT, events[::-1]) == want


def test_a_file_born_by_an_atomic_save_is_the_temporary_file_moved() -> None:
    tmp = ev("created", "p.py.tmp~", 0, b"v0")
    events = [ev("renamed", "p.py", 1, previous="p.py.tmp~"), tmp]
    assert fold_files(TENANT, events) == [FileRecord(made_by(tmp), "p.py", sha(b"v0"), False)]


def test_a_delete_arriving_before_the_create_still_deletes() -> None:
    created = ev("created", "a.py", 0, b"v0")
    assert fold_files(TENANT, [ev("deleted", "a.py", 1), created]) == [
        FileRecord(made_by(created), "a.py", sha(b"v0"), True)
    ]


def test_a_delete_older_than_the_create_finds_nothing() -> None:
    created = ev("created", "a.py", 1, b"v0")
    assert fold_files(TENANT, [created, ev("deleted", "a.py", 0)]) == [
        FileRecord(made_by(created), "a.py", sha(b"v0"), False)
    ]


def test_a_modify_older_than_the_delete_arriving_after_it_is_the_gone_files_content() -> None:
    created = ev("created", "a.py", 0, b"v0")
    events = [created, ev("deleted", "a.py", 2), ev("modified", "a.py", 1, b"v1")]
    assert fold_files(TENANT, events) == [FileRecord(made_by(created), "a.py", sha(b"v1"), True)]


def test_a_re_created_file_is_a_new_one_and_the_old_one_stays_gone() -> None:
    first, again = ev("created", "a.py", 0, b"v0"), ev("created", "a.py", 2, b"v2")
    events = [again, ev("deleted", "a.py", 1), first, ev("accessed", "a.py", 3)]
    assert fold_files(TENANT, events) == [
        FileRecord(made_by(first), "a.py", sha(b"v0"), True),
        FileRecord(made_by(again), "a.py", sha(b"v2"), False),
    ]


# Two event ids whose 16 bytes order (A... < B...) is not their text order ("B" < "a").
LOW, HIGH = "a0000000-0000-4000-8000-000000000000", "B0000000-0000-4000-8000-000000000000"


def test_at_equal_times_the_event_id_bytes_decide_between_two_modifies() -> None:
    created = ev("created", "a.py", 0, b"v0")
    for first, second in ((LOW, HIGH), (HIGH, LOW)):
        events = [
            created,
            ev("modified", "a.py", 1, b"high", event_id=HIGH),
            ev("modified", "a.py", 1, b"low", event_id=LOW),
        ]
        events.sort(key=lambda b: [first, second].index(b["event_id"]) if b is not created else -1)
        assert fold_files(TENANT, events) == [
            FileRecord(made_by(created), "a.py", sha(b"high"), False)
        ]


def test_at_equal_times_a_delete_before_a_modify_leaves_a_new_live_file() -> None:
    created = ev("created", "a.py", 0, b"v0")
    modified = ev("modified", "a.py", 1, b"v1", event_id=HIGH)
    events = [created, modified, ev("deleted", "a.py", 1, event_id=LOW)]
    assert fold_files(TENANT, events) == [
        FileRecord(made_by(created), "a.py", sha(b"v0"), True),
        FileRecord(made_by(modified), "a.py", sha(b"v1"), False),
    ]


def test_at_equal_times_a_modify_before_a_delete_is_the_gone_files_content() -> None:
    created = ev("created", "a.py", 0, b"v0")
    events = [
        created,
        ev("deleted", "a.py", 1, event_id=HIGH),
        ev("modified", "a.py", 1, b"v1", event_id=LOW),
    ]
    assert fold_files(TENANT, events) == [FileRecord(made_by(created), "a.py", sha(b"v1"), True)]


def test_a_rename_from_nowhere_makes_a_file_without_content_only_where_none_is_live() -> None:
    rename = ev("renamed", "b.py", 0, previous="untracked.py")
    assert fold_files(TENANT, [rename]) == [FileRecord(made_by(rename), "b.py", None, False)]
    created = ev("created", "b.py", 0, b"v0")
    events = [ev("renamed", "b.py", 1, previous="untracked.py"), created]
    assert fold_files(TENANT, events) == [FileRecord(made_by(created), "b.py", sha(b"v0"), False)]


def test_an_access_to_no_file_makes_no_record() -> None:
    assert fold_files(TENANT, [ev("accessed", "a.py", 0), ev("deleted", "a.py", 1)]) == []


def test_compare_counts_every_record_at_a_path() -> None:
    events = [
        ev("created", "a.py", 0, b"v0"),
        ev("deleted", "a.py", 1),
        ev("created", "a.py", 2, b"v0"),
        ev("deleted", "a.py", 3),
    ]
    want = expect([("file.changed", body) for body in events])
    assert want.files == {(TENANT, SESSION, "a.py"): ((sha(b"v0"), True), (sha(b"v0"), True))}
    assert compare(want, want).ok
    one_gone = State(files={(TENANT, SESSION, "a.py"): ((sha(b"v0"), True),)})
    one_gone.file_ids = dict(list(want.file_ids.items())[:1])
    one_gone.audits, one_gone.event_ids = want.audits, want.event_ids
    mismatches = compare(want, one_gone).mismatches
    assert [m.split(" ")[0] for m in mismatches] == ["files", "file_ids"]


def test_the_default_workload_has_every_file_pattern_and_is_the_same_for_a_seed() -> None:
    work = build_workload(3000, 3, seed=7)
    assert [m.data for m in work.messages] == [m.data for m in build_workload(3000, 3, 7).messages]
    files = [body for subject, body in work.events if subject == "file.changed"]
    changes = Counter(body["change"] for body in files)
    assert set(changes) == {"created", "modified", "accessed", "deleted", "renamed"}

    # each story (its paths share `module_<n>`) lives in one (tenant, session)
    where: dict[str, set[tuple[str, str]]] = {}
    for body in files:
        story = re.search(r"module_\d+", body["file_path"])
        assert story is not None
        where.setdefault(story[0], set()).add((body["tenant_id"], body["workspace_session_id"]))
    assert all(len(places) == 1 for places in where.values())

    seen: set[tuple[str, str]] = set()
    early_renames, late_modifies = 0, 0
    deleted_at: dict[tuple[str, str], str] = {}
    for body in files:  # publish order
        key = (body["workspace_session_id"], body["file_path"])
        if body["change"] == "renamed":
            early_renames += (body["workspace_session_id"], body["previous_path"]) not in seen
        if body["change"] == "deleted":
            deleted_at[key] = body["occurred_at"]
        if body["change"] == "modified" and body["occurred_at"] < deleted_at.get(key, ""):
            late_modifies += 1
        seen.add(key)
    assert early_renames > 0 and late_modifies > 0
    moments = Counter((b["workspace_session_id"], b["file_path"], b["occurred_at"]) for b in files)
    assert any(n > 1 for n in moments.values())  # equal times on one path

    want = expect(work.events)
    records = list(want.file_ids.values())
    assert any(path.endswith(".tmp~") and gone for path, _, gone in records)  # atomic saves
    assert any(path.endswith("_c.py") and not gone for path, _, gone in records)  # a -> b -> c
    assert any(len(at_path) > 1 for at_path in want.files.values())  # deleted, created again
