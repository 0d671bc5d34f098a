"""The retention commands as an operator runs them: cleanup, hold, retention, files restore."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events import AuditEventType
from tests.helpers import cli
from workers.config import Config
from workers.records import Audit, File
from workers.service.wiring import repositories
from workers.store import open_store

NOW = datetime.now(UTC)


def seed(store_url: str, tenant: uuid.UUID, user: uuid.UUID, held_user: uuid.UUID) -> uuid.UUID:
    """Old and new audit events, and a file soft-deleted 40 days ago."""
    settings = Config(store_url=store_url, _env_file=None)  # type: ignore[call-arg]
    repos, store = repositories(settings), open_store(store_url)
    file_id = uuid.uuid4()

    def write(tr):  # type: ignore[no-untyped-def]
        repos.tenants.mark_seen(tr, tenant)
        for age_days, who in [(200, user), (120, user), (100, held_user), (10, user)]:
            at = NOW - timedelta(days=age_days)
            repos.audit.create(
                tr,
                Audit(
                    tenant_id=tenant,
                    id=uuid.uuid4(),
                    event_type=AuditEventType.USER_LOGIN,
                    user_id=who,
                    occurred_at=at,
                ),
            )
        at = NOW - timedelta(days=60)
        repos.files.create(
            tr,
            File(
                tenant_id=tenant,
                id=file_id,
                workspace_session_id=uuid.uuid4(),
                file_path="a.py",
                checksum="ab" * 32,
                created_at=at,
                updated_at=at,
                last_event_at=at,
            ),
        )
        repos.files.soft_delete(tr, tenant, file_id, NOW - timedelta(days=40))

    store.transact_sync(write)
    store.close_sync()  # type: ignore[attr-defined]
    return file_id


def test_cleanup_hold_retention_and_restore_from_the_command_line(tmp_path: Path) -> None:
    url, nats = f"sqlite:///{tmp_path / 'store.db'}", "nats://127.0.0.1:1"
    tenant, user, held = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    file_id = seed(url, tenant, user, held)

    restored = cli(
        nats, url, "files", "restore", "--tenant", str(tenant), "--id", str(file_id), "--json"
    )
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["checksum"] == "ab" * 32

    again = cli(
        nats, url, "files", "restore", "--tenant", str(tenant), "--id", str(file_id)
    )  # it is live now: nothing was restored, and it says so
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == f"error: file {file_id} is not deleted: it is live at 'a.py'\n"

    hold = ("hold", "add", "--tenant", str(tenant), "--user", str(held), "--reason")
    added = cli(nats, url, *hold, "case 7")
    assert (added.returncode, added.stdout) == (0, f"hold added: user {held}\n"), added.stderr
    same = cli(nats, url, *hold, "case 7")
    assert (same.returncode, same.stdout) == (0, f"hold already in place: user {held}\n")
    other = cli(nats, url, *hold, "case 8")  # not silently replaced
    assert (other.returncode, other.stdout) == (1, "")
    assert other.stderr.startswith(f"error: a hold on user {held} is already in place (reason ")
    assert other.stderr.endswith("): --replace changes its reason\n")
    listed = json.loads(cli(nats, url, "hold", "list", "--json").stdout)
    assert [(h["kind"], h["subject_id"], h["reason"]) for h in listed] == [
        ("user", str(held), "case 7")
    ]

    dry = json.loads(cli(nats, url, "cleanup", "audit", "--dry-run", "--json").stdout)
    assert (dry["dry_run"], dry["removed"], dry["held_back"]) == (True, 2, 1)
    ran = cli(nats, url, "cleanup", "audit")
    assert ran.returncode == 0 and "removed 2" in ran.stdout and "held back 1" in ran.stdout
    assert "audit:" in ran.stderr  # the progress line

    assert (
        cli(nats, url, "retention", "set", "--tenant", str(tenant), "--audit-days", "5").returncode
        == 0
    )
    again = json.loads(cli(nats, url, "cleanup", "audit", "--json").stdout)
    assert (again["removed"], again["held_back"]) == (
        1,
        1,
    )  # the 10-day-old event, under the override

    assert (
        cli(nats, url, "hold", "remove", "--tenant", str(tenant), "--user", str(held)).returncode
        == 0
    )
    assert (
        cli(nats, url, "hold", "remove", "--tenant", str(tenant), "--user", str(held)).returncode
        == 1
    )
    assert cli(nats, url, "check").returncode == 0


def test_a_damaged_lease_is_an_error_line_naming_it_not_a_traceback(tmp_path: Path) -> None:
    url, nats = f"sqlite:///{tmp_path / 'store.db'}", "nats://127.0.0.1:1"
    settings = Config(store_url=url, _env_file=None)  # type: ignore[call-arg]
    repos, store = repositories(settings), open_store(url)
    store.transact_sync(lambda tr: tr.set(repos.keys.leases.key("audit"), b"garbage"))
    store.close_sync()  # type: ignore[attr-defined]

    ran = cli(nats, url, "cleanup", "audit")

    assert ran.returncode == 1
    assert ran.stderr.startswith("error: stored lease for job 'audit' is not valid: Invalid JSON")
    assert "Traceback" not in ran.stderr


def test_a_restore_onto_a_live_path_is_one_error_line_and_to_names_another(
    tmp_path: Path,
) -> None:
    url, nats = f"sqlite:///{tmp_path / 'store.db'}", "nats://127.0.0.1:1"
    tenant = uuid.uuid4()
    gone = seed(url, tenant, uuid.uuid4(), uuid.uuid4())  # a.py, soft-deleted 40 days ago
    settings = Config(store_url=url, _env_file=None)  # type: ignore[call-arg]
    repos, store = repositories(settings), open_store(url)
    found = store.transact_sync(lambda tr: repos.files.get_by_id(tr, tenant, gone))
    assert found is not None
    live = File(
        tenant_id=tenant,
        id=uuid.uuid4(),
        workspace_session_id=found.workspace_session_id,
        file_path="a.py",
        created_at=NOW,
        updated_at=NOW,
        last_event_at=NOW,
    )
    store.transact_sync(lambda tr: repos.files.create(tr, live))
    store.close_sync()  # type: ignore[attr-defined]

    refused = cli(nats, url, "files", "restore", "--tenant", str(tenant), "--id", str(gone))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: cannot restore to 'a.py': file {live.id} is live there; "
        "restore to another path with --to PATH\n"
    )
    moved = cli(
        nats, url, "files", "restore", "--tenant", str(tenant), "--id", str(gone),
        "--to", "a.old.py", "--json",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["file_path"] == "a.old.py"
    assert cli(nats, url, "check").returncode == 0


def test_retention_show_set_and_clear_print_the_overrides_and_clear_restores_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`show` prints the tenant's overrides beside the configured defaults; `clear` drops both
    overrides, so the next cleanup judges by the defaults again (not only the printout)."""
    monkeypatch.setenv("FILE_PURGE_AFTER_DAYS", "35")  # the defaults shown are the configured ones
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "150")
    url, nats = f"sqlite:///{tmp_path / 'store.db'}", "nats://127.0.0.1:1"
    tenant, other = uuid.uuid4(), uuid.uuid4()
    seed(url, tenant, uuid.uuid4(), uuid.uuid4())  # audits 200, 120, 100, 10 days old; a file 40

    def retention(action: str, *args: str, who: uuid.UUID = tenant) -> dict[str, object]:
        ran = cli(nats, url, "retention", action, "--tenant", str(who), *args, "--json")
        assert (ran.returncode, ran.stderr) == (0, ""), ran.stderr
        shown: dict[str, object] = json.loads(ran.stdout)
        return shown

    def would_remove() -> tuple[int, int]:
        counts = []
        for job in ("files", "audit"):
            ran = cli(nats, url, "cleanup", job, "--tenant", str(tenant), "--dry-run", "--json")
            assert ran.returncode == 0, ran.stderr
            counts.append(json.loads(ran.stdout)["removed"])
        return counts[0], counts[1]

    defaults = {"files_days": 35.0, "audit_days": 150.0}
    unset = {"tenant": str(tenant), "files_days": None, "audit_days": None, "defaults": defaults}
    assert retention("show") == unset

    overridden = {**unset, "files_days": 60.0, "audit_days": 5.0}
    assert retention("set", "--files-days", "60", "--audit-days", "5") == overridden
    assert retention("show") == overridden  # stored, and only for this tenant
    shown = cli(nats, url, "retention", "show", "--tenant", str(tenant))  # for people
    assert (shown.returncode, shown.stdout) == (
        0,
        "files: 60 days (override)\naudit: 5 days (override)\n",
    )
    assert retention("show", who=other) == {**unset, "tenant": str(other)}
    assert would_remove() == (0, 4)

    assert retention("clear") == unset
    assert retention("show") == unset
    assert would_remove() == (1, 1)  # the 40-day-old file past 35 days, the 200-day-old event
    assert retention("clear") == unset  # nothing to clear: the same answer, exit 0


def test_a_refused_retention_change_is_one_error_line_and_writes_nothing(tmp_path: Path) -> None:
    """A negative period is refused before anything is stored, even the valid half of the
    change; a missing or malformed tenant is a usage error (exit 2)."""
    url, nats = f"sqlite:///{tmp_path / 'store.db'}", "nats://127.0.0.1:1"
    tenant = str(uuid.uuid4())
    seed(url, uuid.uuid4(), uuid.uuid4(), uuid.uuid4())  # a store to refuse the change in

    refused = cli(
        nats, url, "retention", "set", "--tenant", tenant, "--files-days=-1", "--audit-days", "7"
    )
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "error: Invalid value for '--files-days': -1.0 is not in the range x>=0. "
        "(see `python -m workers retention set --help`)\n"
    )
    shown = json.loads(cli(nats, url, "retention", "show", "--tenant", tenant, "--json").stdout)
    assert (shown["files_days"], shown["audit_days"]) == (None, None)

    for args in (("show",), ("clear", "--tenant", "tenant-7")):
        usage = cli(nats, url, "retention", *args)
        assert (usage.returncode, usage.stdout) == (2, ""), args
        assert "--tenant" in usage.stderr, args
