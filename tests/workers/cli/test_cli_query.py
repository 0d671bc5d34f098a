"""`python -m workers query` filters as a user types them: a time window on the audit trail,
soft-deleted files only when asked for, and a filter a query cannot apply refused."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from events import AuditEventType
from tests.helpers import cli
from workers.config import Config
from workers.records import Audit, File
from workers.service.wiring import repositories
from workers.store import open_store
from workers.store.port import Transaction

NATS = "nats://127.0.0.1:1"  # nothing listens: a query needs only the store
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SINCE, UNTIL = "2026-01-09T12:00:00Z", "2026-01-10T12:00:00Z"  # T0 - 1 day, T0
LOGIN, LOGOUT = AuditEventType.USER_LOGIN, AuditEventType.USER_LOGOUT


@dataclass
class Seeded:
    url: str
    tenant: uuid.UUID = field(default_factory=uuid.uuid4)
    user: uuid.UUID = field(default_factory=uuid.uuid4)
    session: uuid.UUID = field(default_factory=uuid.uuid4)
    audits: dict[str, uuid.UUID] = field(default_factory=dict)  # name -> id
    files: dict[str, uuid.UUID] = field(default_factory=dict)  # path -> id

    def query(self, *args: str) -> CompletedProcess[str]:
        return cli(NATS, self.url, "query", *args, "--tenant", str(self.tenant))

    def names(self, result: CompletedProcess[str]) -> set[str]:
        """The seeded audit records a `--json` audit query printed, by name."""
        assert result.returncode == 0, result.stderr
        by_id = {str(i): name for name, i in self.audits.items()}
        return {by_id[a["id"]] for a in json.loads(result.stdout)}


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    """Five audit records around the window [T0 - 1 day, T0), two of them on its edges; a
    session with a live file and a soft-deleted one."""
    s = Seeded(f"sqlite:///{tmp_path / 'store.db'}")
    times = {
        "before": (T0 - timedelta(days=2), LOGIN),
        "at since": (T0 - timedelta(days=1), LOGIN),
        "inside": (T0 - timedelta(hours=1), LOGOUT),
        "at until": (T0, LOGIN),
        "after": (T0 + timedelta(days=1), LOGIN),
    }
    repos = repositories(Config(store_url=s.url, _env_file=None))  # type: ignore[call-arg]

    def write(tr: Transaction) -> None:
        repos.tenants.mark_seen(tr, s.tenant)
        for name, (at, kind) in times.items():
            audit = Audit(
                tenant_id=s.tenant, id=uuid.uuid4(), event_type=kind, user_id=s.user, occurred_at=at
            )
            repos.audit.create(tr, audit)
            s.audits[name] = audit.id
        for path in ("live.py", "gone.py"):
            file = File(
                tenant_id=s.tenant,
                id=uuid.uuid4(),
                workspace_session_id=s.session,
                user_id=s.user,
                file_path=path,
                created_at=T0,
                updated_at=T0,
                last_event_at=T0,
            )
            repos.files.create(tr, file)
            s.files[path] = file.id
        repos.files.soft_delete(tr, s.tenant, s.files["gone.py"], T0 + timedelta(hours=1))

    store = open_store(s.url)
    store.transact_sync(write)
    store.close_sync()  # type: ignore[attr-defined]
    return s


def test_an_audit_query_returns_only_the_records_inside_since_until_whatever_its_index(
    seeded: Seeded,
) -> None:
    """--since is inclusive and --until exclusive, on the by-date, by-user and by-event
    indexes alike; a window open on one side is bounded on that side only."""
    window = ("--since", SINCE, "--until", UNTIL)
    human = seeded.query("audit", *window)
    assert human.returncode == 0 and human.stderr == "(2 audit records)\n"
    by_id = {str(i): name for name, i in seeded.audits.items()}
    shown = [dict(c.split("=", 1) for c in line.split("  ")) for line in human.stdout.splitlines()]
    assert [(by_id[r["id"]], r["event_type"]) for r in shown] == [
        ("at since", "UserLogin"),
        ("inside", "UserLogout"),
    ]
    by_user = seeded.query("audit", "--user", str(seeded.user), *window, "--json")
    assert seeded.names(by_user) == {"at since", "inside"}
    logins = ("audit", "--event-type", "UserLogin", "--json")
    assert seeded.names(seeded.query(*logins, "--since", SINCE)) == {
        "at since",
        "at until",
        "after",
    }
    assert seeded.names(seeded.query(*logins, "--until", UNTIL)) == {"before", "at since"}


def test_a_window_without_a_time_zone_or_on_a_query_that_cannot_apply_it_is_a_usage_error(
    seeded: Seeded,
) -> None:
    """Exit 2 with the reason, never an answer to another question: every message listed
    whatever its time, deleted files asked of the audit trail, a local time read as UTC."""
    naive = seeded.query("audit", "--since", "2026-01-09T12:00:00")
    assert (naive.returncode, naive.stdout) == (2, "")
    assert naive.stderr == (
        "error: Invalid value for '--since': '2026-01-09T12:00:00': give a time zone, e.g. "
        "2026-11-26T09:00:00Z (see `python -m workers query --help`)\n"
    )
    conversation = ("--conversation", str(uuid.uuid4()))
    refused = seeded.query("messages", *conversation, "--since", SINCE)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "error: --since does not apply to messages; messages takes --conversation, --id\n"
    )
    refused = seeded.query("audit", "--include-deleted")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "error: --include-deleted does not apply to audit; audit takes --event-type, --id, "
        "--since, --until, --user\n"
    )


def test_files_by_session_user_or_tenant_soft_deleted_ones_only_when_asked(seeded: Seeded) -> None:
    session = ("--session", str(seeded.session))

    def listed(*flags: str) -> dict[str, bool]:
        result = seeded.query("files", *session, *flags, "--json")
        assert result.returncode == 0, result.stderr
        return {f["file_path"]: f["is_deleted"] for f in json.loads(result.stdout)}

    assert listed() == {"live.py": False}
    assert listed("--include-deleted") == {"live.py": False, "gone.py": True}

    def whole_tenant(*flags: str) -> dict[str, bool]:
        """Without --session: every file of the tenant, or of one user."""
        result = seeded.query("files", *flags, "--json")
        assert result.returncode == 0, result.stderr
        return {f["file_path"]: f["is_deleted"] for f in json.loads(result.stdout)}

    assert whole_tenant("--include-deleted") == {"live.py": False, "gone.py": True}
    assert whole_tenant("--user", str(seeded.user)) == {"live.py": False}
    assert whole_tenant("--user", str(uuid.uuid4())) == {}

    hidden = seeded.query("file", *session, "--path", "gone.py", "--json")
    assert hidden.returncode == 1 and "not found" in hidden.stderr
    found = seeded.query("file", *session, "--path", "gone.py", "--include-deleted", "--json")
    assert found.returncode == 0, found.stderr
    shown = json.loads(found.stdout)
    assert (shown["id"], shown["is_deleted"]) == (str(seeded.files["gone.py"]), True)
