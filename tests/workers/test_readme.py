"""The README is the manual: every setting and every command is in it."""

from __future__ import annotations

from pathlib import Path

from workers.cli import parser
from workers.config import Config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [n.upper() for n in Config.model_fields if f"`{n.upper()}`" not in README]
    assert missing == []


def test_every_command_is_documented_in_the_readme() -> None:
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert [c for c in commands if f"`{c}" not in README] == []
