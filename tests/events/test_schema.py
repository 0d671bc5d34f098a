from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from events.schema import main, write_schemas
from events.subjects import SUBJECT_MODELS

FAMILIES = {
    "message.sent.json",
    "file.changed.json",
    "agent.executed.json",
    "conversation.created.json",
    "conversation.updated.json",
    "agent.configured.json",
    "setting.changed.json",
    "audit.json",
}


def test_schema_export_writes_one_valid_json_schema_per_family_and_an_index(
    tmp_path: Path,
) -> None:
    written = write_schemas(tmp_path / "schemas")
    assert {path.name for path in written} == FAMILIES | {"index.json"}
    index = json.loads((tmp_path / "schemas" / "index.json").read_text(encoding="utf-8"))
    assert set(index) == set(SUBJECT_MODELS)
    assert index["audit.user_login"] == "audit.json"
    for subject, file_name in index.items():
        schema = json.loads((tmp_path / "schemas" / file_name).read_text(encoding="utf-8"))
        assert schema["type"] == "object"
        assert set(schema["properties"]) == set(SUBJECT_MODELS[subject].model_fields)
        assert "event_id" in schema["required"]


def test_a_schema_carries_the_limits_and_the_publisher(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    schema = json.loads((tmp_path / "file.changed.json").read_text(encoding="utf-8"))
    assert schema["properties"]["file_path"]["maxLength"] == 4096
    assert schema["properties"]["checksum"]["anyOf"][0]["pattern"] == "^[0-9a-f]{64}$"
    assert "file monitor" in schema["description"]


def test_the_command_prints_what_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(FAMILIES) + 1
    assert all((tmp_path / line.split("/")[-1]).is_file() for line in printed)


def test_the_module_runs_as_a_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "events.schema", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "index.json" in done.stdout
    assert (tmp_path / "audit.json").is_file()
