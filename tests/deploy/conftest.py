"""Shared by the deployment tests: paths, YAML loading, and a nats-server run from a config file
under test (deploy/nats/nats-server.conf, or the config rendered from the Helm values)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def nats_conf_for_test(store_dir: Path, port: int, monitor_port: int) -> str:
    """deploy/nats/nats-server.conf with only its addresses and storage moved to the test's."""
    text = NATS_CONF.read_text()
    for key, value in (
        ("listen", f"127.0.0.1:{port}"),
        ("http", f"127.0.0.1:{monitor_port}"),
        ("store_dir", json.dumps(str(store_dir))),
    ):
        pattern = re.compile(rf"^(\s*){key}:.*$", re.MULTILINE)
        assert len(pattern.findall(text)) == 1, f"{NATS_CONF.name}: expected one `{key}:` line"
        text = pattern.sub(lambda m, k=key, v=value: f"{m.group(1)}{k}: {v}", text)
    return text


def nats_conf_from_helm_values(store_dir: Path, port: int, monitor_port: int) -> str:
    """The parts of nats.conf the chart builds from our values (JetStream and the merged
    top-level config), as NATS config text; `<< X >>` is the chart's spelling of a raw value."""
    config = load_yaml(NATS_VALUES)["config"]
    rendered = {
        "listen": f"127.0.0.1:{port}",
        "http": f"127.0.0.1:{monitor_port}",
        "jetstream": {"store_dir": str(store_dir), **config["jetstream"].get("merge", {})},
        **config.get("merge", {}),
    }
    return re.sub(r'"<< (.+?) >>"', r"\1", json.dumps(rendered, indent=2))


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
    log = (tmp_path / "nats.log").open("wb")
    proc = subprocess.Popen([find_binary(), "-c", str(conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while not reachable(f"nats://127.0.0.1:{port}", 0.2):
            assert proc.poll() is None, (tmp_path / "nats.log").read_text()
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)
        yield RunningNats(port, monitor_port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
