"""What goes wrong is one line and an exit code that tells the truth, never a traceback: NATS
down, no store where the command runs, a reader that leaves (`| head -1`), bad input."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from events import AuditEventType
from tests.workers.cli.cli_support import DOWN, UNREACHABLE, workers
from workers.config import Config
from workers.ids import utcnow
from workers.records import Audit
from workers.service.wiring import repositories
from workers.store import open_store
from workers.store.port import Transaction

T = str(uuid.uuid4())


@pytest.mark.parametrize(
    "args", [("publish", "--demo"), ("dlq", "list"), ("streams",)], ids=lambda a: a[0]
)
def test_nats_down_is_one_line_within_seconds(args: tuple[str, ...], tmp_path: Path) -> None:
    """Not 120 s of retries and 61 tracebacks: one attempt, then what to do."""
    ran = workers(*args, cwd=tmp_path)
    assert (ran.code, ran.out, ran.err) == (1, "", UNREACHABLE)
    assert ran.seconds < 8  # about 2 s, plus the interpreter's start on a busy machine


def test_a_read_command_in_another_folder_says_there_is_no_store_and_creates_none(
    tmp_path: Path,
) -> None:
    """Not an empty store made on the spot and a "0 tenants: clean" about it."""
    expected = (
        "error: no store at data/workers.db; set STORE_URL (or --store-url) to the workers' store\n"
    )
    for args in (("check",), ("query", "conversation", "--tenant", T)):
        ran = workers(*args, cwd=tmp_path)
        assert (ran.code, ran.out, ran.err) == (1, "", expected), args
    assert list(tmp_path.iterdir()) == []

    status = workers("status", cwd=tmp_path)  # every part it can reach, and what it could not
    assert status.code == 1
    assert status.err == UNREACHABLE + expected
    assert "scheduler (next runs, UTC)" in status.out


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path: Path) -> None:
    """`query … | head -1` over more than a pipe's buffer: exit 1 (not everything was
    written), nothing on stderr."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    tenant = uuid.uuid4()
    repos = repositories(Config(store_url=url, _env_file=None))  # type: ignore[call-arg]

    def write(tr: Transaction) -> None:
        repos.tenants.mark_seen(tr, tenant)
        for _ in range(3000):
            audit = Audit(
                tenant_id=tenant,
                id=uuid.uuid4(),
                event_type=AuditEventType.USER_LOGIN,
                occurred_at=utcnow(),
            )
            repos.audit.create(tr, audit)

    store = open_store(url)
    store.transact_sync(write)
    store.close_sync()  # type: ignore[attr-defined]
    pipeline = (
        f"set -o pipefail; STORE_URL={url} NATS_URL={DOWN} {sys.executable} -m workers "
        f"query audit --tenant {tenant} 2>{tmp_path / 'err'} | head -1"
    )
    done = subprocess.run(
        ["bash", "-c", pipeline], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.stdout.startswith("occurred_at=") and done.stdout.count("\n") == 1
    assert done.returncode == 1
    assert (tmp_path / "err").read_text() == ""


@pytest.mark.parametrize(
    ("args", "stdin", "line"),
    [
        (
            ("publish", "/missing.jsonl"),
            None,
            "error: Invalid value for '[FILE]': '/missing.jsonl': No such file or directory "
            "(see `python -m workers publish --help`)",
        ),
        (
            ("publish", "-"),
            b'{"subject": "message.sent", "content": "caf\xe9"}\n',
            "error: <stdin>: not UTF-8 text (invalid continuation byte at byte 43)",
        ),
        (
            ("query", "audit", "--tenant", T, "--since", "yesterday"),
            None,
            "error: Invalid value for '--since': 'yesterday' is not a time: give RFC 3339 "
            "(2026-01-09T12:00:00Z) or an age (30m, 1h, 7d, 2w) "
            "(see `python -m workers query --help`)",
        ),
        (
            ("query", "audit", "--tenant", T, "--conversation", T),
            None,
            "error: --conversation does not apply to audit; audit takes --event-type, --id, "
            "--since, --until, --user",
        ),
        (
            ("query", "agents", "--tenant", T, "--user", T),
            None,
            "error: --user does not apply to agents; agents takes --id, --type",
        ),
        (
            ("retention", "set", "--tenant", T, "--audit-days", "-3"),
            None,
            "error: Invalid value for '--audit-days': -3.0 is not in the range x>=0. "
            "(see `python -m workers retention set --help`)",
        ),
        (("dlq", "show"), None, "error: dlq show needs SEQ…"),
        (
            ("check", "--jso"),
            None,
            "error: No such option: --jso (Possible options: --json) "
            "(see `python -m workers check --help`)",
        ),
    ],
    ids=["missing-file", "not-utf8", "since-yesterday", "audit-conversation", "agents-user",
         "negative-days", "dlq-show-nothing", "abbreviated"],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    args: tuple[str, ...], stdin: bytes | None, line: str, tmp_path: Path
) -> None:
    ran = workers(*args, stdin=stdin, store=f"sqlite:///{tmp_path / 'store.db'}", cwd=tmp_path)
    assert (ran.code, ran.out, ran.err) == (2, "", line + "\n")


def test_help_version_and_the_console_script(tmp_path: Path) -> None:
    """`workers` is a console script (pyproject's [project.scripts]); `--help` lists every
    command with its purpose; `--version` the installed version."""
    helped = workers("--help", script=True, cwd=tmp_path)
    assert helped.code == 0 and helped.out.startswith("Usage: workers [OPTIONS] COMMAND")
    assert re.search(r"\n  status +The system at a glance", helped.out)
    version = workers("--version", cwd=tmp_path)
    assert (version.code, version.out) == (0, "workers 0.1.0\n")
