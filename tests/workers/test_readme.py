"""The README is the manual: every setting, and every command with each of its options, as the
command line's own definition (what `--help` prints) has them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from workers.cli import app
from workers.config import Config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
COMMAND_LINE = README.split("## Command line\n")[1].split("\n## ")[0]


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [n.upper() for n in Config.model_fields if f"`{n.upper()}`" not in README]
    assert missing == []


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, list[str]]]:
    """(`dlq show`, its long options) for every command the CLI has, as `--help` lists them."""
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from commands(sub, (*path, name))
        return
    options = [
        o for p in command.params if p.param_type_name == "option" for o in p.opts if "--" in o
    ]
    yield " ".join(path), options


def test_every_command_and_option_has_its_row_in_the_readme_command_table() -> None:
    rows = {
        line.split("`")[1]: line for line in COMMAND_LINE.splitlines() if line.startswith("| `")
    }
    found = list(commands(typer.main.get_command(app)))
    assert len(found) >= 22
    for name, options in found:
        row = next((r for usage, r in rows.items() if usage.split(" [")[0].startswith(name)), None)
        assert row is not None, f"no README row for `{name}`"
        assert [o for o in options if o not in row] == [], name
    assert {usage.split()[0] for usage in rows} == {name.split()[0] for name, _ in found}
