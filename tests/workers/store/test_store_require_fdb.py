"""`make test-fdb` cannot pass vacuously: under its switch an unreachable FoundationDB fails the
run, and the end-to-end tests use the store it names, each test under a key root of its own."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from workers.store.keys import unpack

ROOT = Path(__file__).resolve().parents[3]
SWITCHES = ("REQUIRE_FDB", "TEST_STORE_URL", "FDB_CLUSTER_FILE")  # this run's own are not inherited
ONE_FDB_TEST = (
    "tests/workers/store/test_store_conformance.py"
    "::test_a_value_set_is_read_back_and_a_missing_key_reads_none[fdb]"
)


def pytest_run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in SWITCHES} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_the_switch_an_unreachable_cluster_skips(tmp_path: Path) -> None:
    run = pytest_run("-rs", ONE_FDB_TEST, FDB_CLUSTER_FILE=str(tmp_path / "none"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout


def test_under_require_fdb_an_unreachable_cluster_fails_the_run(tmp_path: Path) -> None:
    run = pytest_run(ONE_FDB_TEST, REQUIRE_FDB="1", FDB_CLUSTER_FILE=str(tmp_path / "none"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout and "skipped" not in run.stdout
    assert "REQUIRE_FDB=1" in run.stdout


def test_the_end_to_end_tests_use_the_store_test_store_url_names(tmp_path: Path) -> None:
    shared = tmp_path / "shared.db"
    run = pytest_run(
        "tests/workers/ingest/test_ingestion_e2e.py::"
        "test_a_late_file_event_is_audited_and_never_rolls_the_file_back",
        "tests/workers/jobs/test_jobs_file_history.py",
        TEST_STORE_URL=f"sqlite:///{shared}",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    with sqlite3.connect(shared) as db:
        keys = [bytes(k) for (k,) in db.execute("SELECT k FROM kv")]
        pages, free = (
            db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count")
        )
    # the tests wrote there (pages grew, then were freed), each under a root it cleared after
    assert free > 0, (pages, free)
    assert keys == [], f"{len(keys)} keys left behind under { ({unpack(k)[0] for k in keys}) }"
