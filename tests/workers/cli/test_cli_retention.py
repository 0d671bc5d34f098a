"""The retention commands as an operator runs them: cleanup, hold, retention, files restore."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

    added = cli(
        nats, url, "hold", "add", "--tenant", str(tenant), "--user", str(held), "--reason", "case 7"
    )
    assert added.returncode == 0, added.stderr
    listed = json.loads(cli(nats, url, "hold", "list", "--json").stdout)
    assert [(h["kind"], h["subject_id"]) for h in listed] == [("user", str(held))]

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
