"""`audit seal` and `audit verify` on a real SQLite file, tampered with directly through sqlite3:
each change an attacker with write access could make is found and named."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from audit_support import KEYS, Raw, audit_records, run, write_key, write_records

from workers.records import Audit

N, WINDOW = 20, 6  # windows of 6, 6, 6 and 2 records


@dataclass
class Sealed:
    db: Path
    tenant: UUID
    records: list[Audit]
    env: dict[str, str]
    folder: Path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    folder = tmp_path_factory.mktemp("sealed")
    key, _ = write_key(folder, "a")
    tenant = uuid4()
    records = audit_records(tenant, N, datetime(2026, 1, 1, tzinfo=UTC), timedelta(minutes=1))
    db = folder / "store.db"
    write_records(db, records)
    env = {"AUDIT_SIGNING_KEY_FILE": str(key), "AUDIT_SEAL_WINDOW": str(WINDOW)}
    sealed = run(db, "audit", "seal", **env)
    assert sealed.returncode == 0, sealed.stderr
    assert "4 windows, 20 records" in sealed.stdout
    return Sealed(db, tenant, records, env, folder)


@pytest.fixture
def sealed(template: Sealed, tmp_path: Path) -> Sealed:
    db = tmp_path / "store.db"
    shutil.copy(template.db, db)
    return Sealed(db, template.tenant, template.records, template.env, template.folder)


def verify(s: Sealed, *args: str, **env: str) -> tuple[int, str]:
    done = run(s.db, "audit", "verify", "--tenant", str(s.tenant), *args, **{**s.env, **env})
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout + done.stderr


def record_key(s: Sealed, i: int) -> bytes:
    return KEYS.tenant(s.tenant).audit.key(s.records[i].id)


def sealed_order(s: Sealed) -> list[UUID]:
    """Record ids in their sealed order (the log), read raw."""
    with Raw(s.db) as raw:
        lg = KEYS.tenant(s.tenant).audit_log
        rows = raw.conn.execute(
            "SELECT v FROM kv WHERE k >= ? AND k < ? ORDER BY k", lg.range()
        ).fetchall()
    return [UUID(bytes=bytes(r[0])[:16]) for r in rows]


def test_an_untouched_trail_verifies_with_its_counts(sealed: Sealed) -> None:
    code, out = verify(sealed)
    assert code == 0, out
    assert "4 windows, 20 records verified" in out
    code, out = verify(sealed, "--json")
    assert code == 0 and json.loads(out)["records"] == N


def test_a_record_edited_in_the_file_names_its_window_and_record(sealed: Sealed) -> None:
    order = sealed_order(sealed)
    victim = next(i for i, r in enumerate(sealed.records) if r.id == order[8])  # window 1
    with Raw(sealed.db) as raw:
        value = raw.get(record_key(sealed, victim))
        assert value is not None
        raw.put(record_key(sealed, victim), value.replace(b"10.0.0.1", b"10.0.0.2"))
    code, out = verify(sealed)
    assert code == 1
    assert f"window 1, record {order[8]} (seq 8): changed since it was sealed" in out


def test_a_deleted_row_is_a_removal_outside_the_purge(sealed: Sealed) -> None:
    order = sealed_order(sealed)
    with Raw(sealed.db) as raw:
        assert raw.delete(KEYS.tenant(sealed.tenant).audit.key(order[13])) == 1
    code, out = verify(sealed)
    assert code == 1
    assert f"window 2, record {order[13]} (seq 13): removed outside the retention purge" in out


def test_a_forged_row_inserted_in_the_file_is_found(sealed: Sealed) -> None:
    forged = uuid4()
    with Raw(sealed.db) as raw:
        value = raw.get(record_key(sealed, 0))
        assert value is not None
        raw.put(
            KEYS.tenant(sealed.tenant).audit.key(forged),
            value.replace(str(sealed.records[0].id).encode(), str(forged).encode()),
        )
    code, out = verify(sealed)
    assert code == 1
    assert f"record {forged}: in the store but never sealed" in out


def test_two_records_swapped_in_the_file_are_found(sealed: Sealed) -> None:
    order = sealed_order(sealed)
    a, b = (KEYS.tenant(sealed.tenant).audit.key(order[i]) for i in (2, 3))
    with Raw(sealed.db) as raw:
        va, vb = raw.get(a), raw.get(b)
        assert va is not None and vb is not None
        raw.put(a, vb)
        raw.put(b, va)
    code, out = verify(sealed)
    assert code == 1
    assert f"window 0, record {order[2]} (seq 2): changed since it was sealed" in out


def test_two_log_entries_swapped_break_the_windows_root(sealed: Sealed) -> None:
    lg = KEYS.tenant(sealed.tenant).audit_log
    with Raw(sealed.db) as raw:
        va, vb = raw.get(lg.key(6)), raw.get(lg.key(7))
        assert va is not None and vb is not None
        raw.put(lg.key(6), vb)
        raw.put(lg.key(7), va)
    code, out = verify(sealed)
    assert code == 1
    assert "window 1: the log does not match the signed root" in out


def test_a_removed_middle_window_breaks_the_chain(sealed: Sealed) -> None:
    with Raw(sealed.db) as raw:
        assert raw.delete(KEYS.tenant(sealed.tenant).audit_checkpoints.key(1)) == 1
    code, out = verify(sealed)
    assert code == 1
    assert "window 1: window missing from the chain" in out


def test_the_newest_window_cut_off_is_found_against_an_exported_checkpoint(
    sealed: Sealed, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.json"
    done = run(
        sealed.db,
        "audit",
        "checkpoint",
        "export",
        "--tenant",
        str(sealed.tenant),
        "--out",
        str(anchor),
        **sealed.env,
    )
    assert done.returncode == 0, done.stderr
    tk = KEYS.tenant(sealed.tenant)
    order = sealed_order(sealed)
    with Raw(sealed.db) as raw:  # the newest window, its log and its records: all gone
        raw.delete(tk.audit_checkpoints.key(3))
        raw.delete_range(tk.audit_log.key(18), tk.audit_log.range()[1])
        for rid in order[18:]:
            raw.delete(tk.audit.key(rid))
            raw.delete(tk.audit_log_by_id.key(rid))
    assert verify(sealed)[0] == 0  # alone, the store cannot tell
    code, out = verify(sealed, "--anchor", str(anchor))
    assert code == 1
    assert "window 3: the anchored window is not in the store" in out
    assert "ends at window 2" in out


def test_a_checkpoint_checked_with_the_wrong_key_fails(sealed: Sealed) -> None:
    other, _ = write_key(sealed.folder, "other")
    code, out = verify(sealed, AUDIT_SIGNING_KEY_FILE=str(other))
    assert code == 1
    assert "window 0: signed by key" in out and "not trusted" in out


def test_a_checkpoint_re_signed_with_another_key_fails(sealed: Sealed) -> None:
    """An attacker rewrites a window's root and signs it with a key of their own."""
    from workers.repositories.audit_seal import Checkpoint, Signed
    from workers.repositories.audit_signing import Signer

    other, _ = write_key(sealed.folder, "attacker")
    signer = Signer.from_file(other)
    key = KEYS.tenant(sealed.tenant).audit_checkpoints.key(0)
    with Raw(sealed.db) as raw:
        value = raw.get(key)
        assert value is not None
        cp = Checkpoint.model_validate(json.loads(value)["checkpoint"])
        forged = cp.model_copy(update={"root": "00" * 32})
        raw.put(
            key,
            Signed(signature=signer.sign(forged.body()).hex(), checkpoint=forged)
            .model_dump_json()
            .encode(),
        )
    code, out = verify(sealed)
    assert code == 1 and "window 0: signature does not verify with key" in out


def test_a_rotated_key_verifies_old_windows_with_their_own_key_id(sealed: Sealed) -> None:
    _, old_public = sealed.folder / "a.key", sealed.folder / "a.pub"
    new, _ = write_key(sealed.folder, "b")
    more = audit_records(sealed.tenant, 3, datetime(2026, 1, 2, tzinfo=UTC), timedelta(minutes=1))
    write_records(sealed.db, more)
    rotated = {"AUDIT_SIGNING_KEY_FILE": str(new)}
    assert run(sealed.db, "audit", "seal", **rotated).returncode == 0
    code, out = verify(sealed, **rotated)
    assert code == 1 and "window 0: signed by key" in out  # the old key is not trusted yet
    code, out = verify(sealed, AUDIT_PUBLIC_KEYS=str(old_public), **rotated)
    assert code == 0, out
    assert "5 windows, 23 records verified" in out
