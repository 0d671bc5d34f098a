"""docs/operations.md points at files that exist and states the numbers the manifests use."""

from __future__ import annotations

import re

from tests.deploy.conftest import ROOT, load_yaml
from workers.config import Config

OPERATIONS = ROOT / "docs" / "operations.md"


def test_every_file_the_guide_names_exists() -> None:
    text = OPERATIONS.read_text()
    named = set(re.findall(r"`((?:deploy|docs|tests)/[\w./-]*|docker-compose\.yml)`", text))
    assert named, "the guide names no file"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/operations.md names missing files: {missing}"


def test_the_guide_states_the_grace_period_the_manifests_use() -> None:
    text = OPERATIONS.read_text()
    worker = load_yaml(ROOT / "deploy" / "k8s" / "worker-deployment.yaml")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert f"terminationGracePeriodSeconds: {grace}" in text
    assert f"stop_grace_period: {grace}s" in text


def test_the_guide_covers_compose_kubernetes_durability_and_make_test_fdb() -> None:
    text = OPERATIONS.read_text()
    for phrase in (
        "docker compose up --build",
        "kubectl apply -k deploy/k8s",
        "sync_interval: always",
        "STREAM_REPLICAS=3",
        "Jepsen",
        "make test-fdb",
        "FDB_NETWORKING_MODE=container",
        "--scale worker=",
    ):
        assert phrase in text, phrase


def test_the_guide_states_the_reads_services_settings_and_how_to_scale_it() -> None:
    text = OPERATIONS.read_text()
    for phrase in ("serve-reads", "--scale reads=", "deployment/reads", "allow_responses"):
        assert phrase in text, phrase
    for field in ("reads_concurrency", "reads_deadline_s", "reads_max_page"):
        default = Config.model_fields[field].default
        unit = " s" if field.endswith("_s") else ""
        stated = f"`{field.upper()}` ({default:g}{unit})"
        assert stated in text, f"the guide should state {stated}, the default of Config"
