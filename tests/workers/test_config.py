"""Bad settings fail at start-up, naming the environment variable; every one is described."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from workers.config import Config, ConfigError


def workers_cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers", *args],
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def settings(**env: str) -> Config:
    return Config.from_env(_env_file=None, **{k.lower(): v for k, v in env.items()})


def test_a_bad_batch_size_stops_the_worker_with_exit_2_naming_the_variable() -> None:
    done = workers_cli("worker", BATCH_SIZE="lots")
    assert done.returncode == 2
    assert "BATCH_SIZE='lots'" in done.stderr and "valid integer" in done.stderr


def test_a_bad_cron_stops_the_scheduler_with_exit_2_naming_the_variable(tmp_path: Path) -> None:
    done = workers_cli(
        "scheduler",
        FILE_PURGE_CRON="99 * * * *",
        STORE_URL=f"sqlite:///{tmp_path / 's.db'}",
        METRICS_PORT="0",
    )
    assert done.returncode == 2, done.stderr
    assert "FILE_PURGE_CRON='99 * * * *'" in done.stderr


def test_a_busy_metrics_port_stops_the_process_with_exit_2_naming_the_variable(
    tmp_path: Path,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = workers_cli(
            "scheduler",
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(port),
            STORE_URL=f"sqlite:///{tmp_path / 's.db'}",
        )
    assert done.returncode == 2, done.stderr
    assert f"METRICS_PORT={port}" in done.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STORE_URL": "postgres://db/workers"}, "STORE_URL='postgres://db/workers'"),
        ({"STORE_URL": "sqlite:///"}, "STORE_URL="),
        ({"NATS_URL": "http://127.0.0.1:4222"}, "NATS_URL='http://127.0.0.1:4222'"),
        ({"STORE_FAULTS": "1022:0.5"}, "STORE_FAULTS="),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL='chatty'"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml'"),
        ({"METRICS_PORT": "70000"}, "METRICS_PORT="),
        ({"SHUTDOWN_GRACE_S": "0"}, "SHUTDOWN_GRACE_S="),
        ({"NATS_TLS_CA": "/no/such/ca.pem"}, "NATS_TLS_CA='/no/such/ca.pem'"),
        ({"NATS_USER": "ide"}, "NATS_USER and NATS_PASSWORD"),
        ({"NATS_USER": "ide", "NATS_PASSWORD": "pw", "NATS_TOKEN": "t"}, "NATS_TOKEN"),
        ({"NATS_URL": "nats://u:p@host:4222", "NATS_TOKEN": "t"}, "NATS_URL carries"),
    ],
)
def test_a_bad_value_is_named_by_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("*", r"\*")):
        settings(**env)


def test_tls_certificate_and_key_go_together(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="NATS_TLS_CERT and NATS_TLS_KEY go together"):
        settings(NATS_TLS_CERT=str(cert))


def test_secrets_never_appear_in_the_message() -> None:
    with pytest.raises(ConfigError) as raised:
        settings(NATS_PASSWORD="hunter2")
    assert "hunter2" not in str(raised.value)
    assert "hunter2" not in repr(settings(NATS_USER="ide", NATS_PASSWORD="hunter2"))


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_SIZE", "")
    monkeypatch.setenv("NATS_TLS_CA", "")
    loaded = Config.from_env(_env_file=None)
    assert loaded.batch_size == Config.model_fields["batch_size"].default
    assert loaded.nats_tls_ca is None


def test_every_setting_has_a_description_for_the_readme() -> None:
    missing = [name for name, f in Config.model_fields.items() if not f.description]
    assert missing == []


def test_a_websocket_url_without_aiohttp_is_refused_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aiohttp" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"NATS_URL.*nats-py\[aiohttp\]"):
        Config.from_env(_env_file=None, nats_url="ws://127.0.0.1:8080")
