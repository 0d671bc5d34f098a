"""docker-compose.yml, offline (no Docker engine here): valid against the Compose Specification
schema (check-jsonschema's vendored copy), and its services agree with each other, with the
files they mount and with the app's settings; every service gets only variables that something
in it reads."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import (
    COMPOSE_FILE,
    DEPLOY,
    DOCKERFILE,
    LIBFDB_C_VARIABLES,
    NATS_CONF,
    ROOT,
    cli_commands,
    config_variables,
    dev_tool,
    load_yaml,
)
from workers.config import Config
from workers.service.lifecycle import STOP_MARGIN_S

APP_SERVICES = ("streams", "worker", "reads", "scheduler")
"""The services that run our image's app (`python -m workers <command>`)."""

NATS_CLIENTS = ("streams", "worker", "reads")
"""The app services that connect to NATS, all as the `workers` user (the scheduler does not)."""

FDB_IMAGE_VARIABLES = {
    "FDB_PORT",
    "FDB_NETWORKING_MODE",
    "FDB_COORDINATOR",
    "FDB_COORDINATOR_PORT",
    "FDB_CLUSTER_FILE",
    "FDB_CLUSTER_FILE_CONTENTS",
    "FDB_PROCESS_CLASS",
}
"""The runtime options of the official foundationdb/foundationdb image (apple/foundationdb,
packaging/docker: the image's README and the `ENV` defaults of its Dockerfile)."""


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return data


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"write durations in seconds: {duration!r}"
    return float(match.group(1))


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) of the service's short-syntax volumes."""
    found = {}
    for spec in service.get("volumes", []):
        source, target, *mode = spec.split(":")
        found[target] = (source, mode[0] if mode else "rw")
    return found


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            dev_tool("check-jsonschema", "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_system_is_nats_fdb_its_init_the_streams_job_workers_reads_and_scheduler() -> None:
    assert set(services()) == {"nats", "fdb", "fdb-init", "tests", *APP_SERVICES}
    assert services()["tests"]["profiles"] == ["test"], "tests run only with `make test-fdb`"


def test_every_app_service_runs_a_command_of_the_app() -> None:
    commands = cli_commands()
    expected = {"streams": "streams", "worker": "worker", "reads": "serve-reads"}
    for name in APP_SERVICES:
        command = services()[name]["command"]
        assert command[0] in commands, f"{name}: `python -m workers {command[0]}` does not exist"
        assert command == [expected.get(name, name)], name


@pytest.mark.parametrize("name", ["worker", "reads"])
def test_the_shared_services_run_two_replicas_without_host_ports(name: str) -> None:
    """The workers share durable consumers, the reads service a queue group: any number of
    replicas, so no fixed name or host port that a second one would clash on."""
    service = services()[name]
    assert service["deploy"]["replicas"] >= 2
    assert "ports" not in service and "container_name" not in service
    assert service["expose"] == [services()[name]["environment"]["METRICS_PORT"]]


def test_dependencies_wait_for_health_or_completion() -> None:
    all_services = services()
    for name, service in all_services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in all_services, f"{name} depends on unknown {target}"
            other = all_services[target]
            if rule["condition"] == "service_healthy":
                check = other.get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{target}: no healthcheck"
            if rule["condition"] == "service_completed_successfully":
                assert other.get("restart") == "no", f"{target} must be a one-shot"
    worker = all_services["worker"]["depends_on"]
    assert worker["fdb-init"]["condition"] == "service_completed_successfully"
    assert worker["streams"]["condition"] == "service_completed_successfully"
    assert worker["nats"]["condition"] == "service_healthy"
    assert worker["fdb"]["condition"] == "service_healthy"
    # The reads service needs NATS and a database to read; no stream (it uses no JetStream).
    reads = {t: rule["condition"] for t, rule in all_services["reads"]["depends_on"].items()}
    assert reads == {
        "nats": "service_healthy",
        "fdb": "service_healthy",
        "fdb-init": "service_completed_successfully",
    }


def test_mounted_files_and_build_inputs_exist() -> None:
    declared = set(compose().get("volumes", {}))
    for name, service in services().items():
        for source, _ in mounts(service).values():
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
        if "build" in service:
            build = service["build"]
            dockerfile = ROOT / build["context"] / build["dockerfile"]
            assert dockerfile == DOCKERFILE
            stages = re.findall(r"^FROM .+ AS (\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
            assert build["target"] in stages


def test_fdb_and_its_init_use_the_client_library_version_of_the_image() -> None:
    version = re.search(r"^ARG FDB_VERSION=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert version is not None
    for name in ("fdb", "fdb-init"):
        assert services()[name]["image"] == f"foundationdb/foundationdb:{version.group(1)}"


def test_apps_read_the_cluster_file_fdb_writes_to_the_shared_volume() -> None:
    fdb = services()["fdb"]
    cluster_file = fdb["environment"]["FDB_CLUSTER_FILE"]
    directory = str(Path(cluster_file).parent)
    volume, mode = mounts(fdb)[directory]
    assert mode == "rw"
    assert fdb["environment"]["FDB_NETWORKING_MODE"] == "container"
    for name in (*APP_SERVICES, "fdb-init", "tests"):
        service = services()[name]
        assert mounts(service)[directory] == (volume, "ro"), name
    for name in APP_SERVICES:
        assert services()[name]["environment"]["STORE_URL"] == f"fdb://{cluster_file}"
    assert services()["fdb-init"]["environment"]["FDB_CLUSTER_FILE"] == cluster_file


def test_fdb_init_runs_the_init_script_from_its_mount() -> None:
    init = services()["fdb-init"]
    script = Path(init["entrypoint"][-1])
    source, mode = mounts(init)[str(script.parent)]
    assert mode == "ro"
    assert (ROOT / source / script.name).is_file()
    assert init["restart"] == "no"


def shell_variables(script: str) -> set[str]:
    return set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", script))


def variables_the_tests_read() -> set[str]:
    """What the test suite itself reads from its environment (the `tests` service runs it)."""
    read = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()["']([A-Z_][A-Z0-9_]*)["']""")
    return {
        name
        for path in (ROOT / "tests").rglob("*.py")
        if DEPLOY.name not in path.parts
        for name in read.findall(path.read_text())
    }


def readers(name: str, service: dict[str, Any]) -> set[str]:
    """The variables something in the service reads, by what runs in it."""
    image = service.get("image", "")
    if "build" in service:  # our image: the app, or under the `test` target the test suite
        tests = variables_the_tests_read() if service["build"]["target"] == "test" else set()
        return config_variables() | LIBFDB_C_VARIABLES | tests
    if image.startswith("foundationdb/foundationdb:") and "entrypoint" not in service:
        return FDB_IMAGE_VARIABLES
    if image.startswith("foundationdb/foundationdb:"):  # our script in its place, and fdbcli
        (script,) = [a for a in service["entrypoint"] if a.startswith("/opt/deploy/")]
        source, _ = mounts(service)[str(Path(script).parent)]
        return shell_variables((ROOT / source / Path(script).name).read_text()) | LIBFDB_C_VARIABLES
    if image.startswith("nats:"):  # the server reads only what its config file references
        return shell_variables(NATS_CONF.read_text())
    raise AssertionError(f"{name}: nothing says what {image or 'it'} reads; add it here")


def test_every_service_gets_only_variables_something_in_it_reads() -> None:
    """A variable nothing reads is a setting that silently does nothing (a renamed field)."""
    for name, service in services().items():
        unknown = set(service.get("environment", {})) - readers(name, service)
        assert not unknown, f"{name}: nothing reads {sorted(unknown)}"


def test_the_readers_are_derived_from_what_actually_reads() -> None:
    """The sets above come from the code: the tests' switches, the init script's, the app's."""
    assert {"REQUIRE_FDB", "TEST_STORE_URL"} <= variables_the_tests_read()
    assert {"FDB_INIT_CONFIGURATION", "FDB_CLUSTER_FILE"} <= shell_variables(
        (DEPLOY / "fdb" / "init.sh").read_text()
    )
    assert {"STORE_URL", "METRICS_PORT", "NATS_PASSWORD"} <= config_variables()


def test_nats_gets_every_password_its_config_references() -> None:
    nats = services()["nats"]
    referenced = set(re.findall(r"\$(NATS_\w+)", NATS_CONF.read_text()))
    assert referenced <= set(nats["environment"])
    source, _ = mounts(nats)["/etc/nats/nats-server.conf"]
    assert (ROOT / source).resolve() == NATS_CONF
    assert nats["command"][-1] == "/etc/nats/nats-server.conf"
    for name in NATS_CLIENTS:  # the reads service too: the config lets `workers` serve it
        password = services()[name]["environment"]["NATS_PASSWORD"]
        assert password == nats["environment"]["NATS_WORKERS_PASSWORD"], name
        assert services()[name]["environment"]["NATS_USER"] == "workers", name
        assert services()[name]["environment"]["NATS_URL"] == "nats://nats:4222", name


def test_healthchecks_hit_the_health_endpoints() -> None:
    nats = " ".join(services()["nats"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8222/healthz" in nats
    assert re.search(r"^http: .*:8222\b", NATS_CONF.read_text(), re.MULTILINE)
    port = services()["worker"]["environment"]["METRICS_PORT"]
    for name in ("worker", "reads", "scheduler"):
        check = " ".join(services()[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/healthz" in check
        assert not services()[name]["healthcheck"].get("disable"), name


def test_workers_get_time_to_drain_before_the_ack_wait_runs_out() -> None:
    ack_wait = Config.model_fields["ack_wait_s"].default  # Compose keeps the default
    for name in ("worker", "reads", "scheduler"):
        service = services()[name]
        drain = float(service["environment"]["SHUTDOWN_GRACE_S"]) + STOP_MARGIN_S
        assert drain < seconds(service["stop_grace_period"]) < ack_wait
        assert service["restart"] == "unless-stopped", name


def test_single_server_streams_are_not_replicated() -> None:
    for name in APP_SERVICES:
        assert services()[name]["environment"]["STREAM_REPLICAS"] == "1"


def test_make_test_fdb_requires_the_cluster_and_points_the_end_to_end_tests_at_it() -> None:
    tests = services()["tests"]
    cluster_file = services()["fdb"]["environment"]["FDB_CLUSTER_FILE"]
    assert tests["environment"]["REQUIRE_FDB"] == "1"  # unreachable: fail, never skip
    assert tests["environment"]["TEST_STORE_URL"] == f"fdb://{cluster_file}"
    assert "STORE_URL" not in tests["environment"]  # the tests read TEST_STORE_URL only
    for folder in ("tests/workers/store", "tests/workers/ingest", "tests/workers/jobs"):
        assert folder in tests["command"], folder


def test_fdb_keeps_one_address_so_the_cluster_file_never_goes_stale() -> None:
    compose = load_yaml(COMPOSE_FILE)
    [subnet] = [c["subnet"] for c in compose["networks"]["default"]["ipam"]["config"]]
    address = services()["fdb"]["networks"]["default"]["ipv4_address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    for name in (*APP_SERVICES, "tests"):  # everyone else on the same network, any address
        assert "networks" not in services()[name], name
