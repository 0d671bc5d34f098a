"""deploy/prometheus/alerts.yaml: a Prometheus rule file whose every expression parses as PromQL
(promql-parser, offline) and reads only series a process of ours serves or Prometheus makes
itself. The served series come from the worker's real registry, built as `worker` builds it
(`Observability` and `build_worker`: our `Metrics`, FastStream's Prometheus middleware and the
process collectors), never from a copy of their names."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.deploy.conftest import DEPLOY, ROOT, dev_module, load_yaml
from workers.config import Config
from workers.observability.endpoint import Observability
from workers.service.worker import build_worker

promql = dev_module("promql_parser", "promql-parser")

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"

SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}
"""The series a metric family of each type is exposed as (the OpenMetrics exposition format,
which prometheus_client follows; a counter family's name carries no `_total`)."""

PROMETHEUS_OWN = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
"""Series Prometheus makes itself: one set per scrape target ("Jobs and instances:
automatically generated labels and time series") and the alerts' own."""


def families(registry: CollectorRegistry) -> dict[str, str]:
    """name -> type of every metric family in `registry`."""
    return {family.name: family.type for family in registry.collect()}


def series(families: dict[str, str]) -> set[str]:
    """Every series name these families can serve, whether or not a sample exists yet (a
    labelled metric has none until its first label set)."""
    return {name + suffix for name, kind in families.items() for suffix in SERIES_SUFFIXES[kind]}


def worker_families(data: Path) -> dict[str, str]:
    """The families on a worker's /metrics, from the registry `run_workers` builds (the
    scheduler serves the same `Metrics`, without FastStream's middleware: a subset)."""
    settings = Config(
        store_url=f"sqlite:///{data / 'store.db'}",
        prepare_processes=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    assert settings.metrics_port, "the middleware is on whenever the endpoint is"
    obs = Observability(settings)
    worker = build_worker(settings, metrics=obs.metrics)
    try:
        return families(obs.metrics.registry)
    finally:
        asyncio.run(worker.store.close())


@pytest.fixture(scope="module")
def served_families(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return worker_families(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module")
def served(served_families: dict[str, str]) -> set[str]:
    return series(served_families)


def rules() -> list[dict[str, Any]]:
    groups = load_yaml(ALERTS)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule(name: str) -> dict[str, Any]:
    (found,) = [r for r in rules() if r["alert"] == name]
    return found


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql.VectorSelector) and node.name:
            names.add(node.name)

    promql.walk(promql.parse(expr), pre_visit=visit)
    return names


def test_the_file_is_a_rule_file_of_named_groups() -> None:
    groups = load_yaml(ALERTS)["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("alert", [r["alert"] for r in rules()])
def test_every_rule_parses_and_says_what_to_do(alert: str) -> None:
    r = rule(alert)
    assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}
    assert metric_names(r["expr"]), "an expression that reads no series never fires"
    if "for" in r:
        assert re.fullmatch(r"\d+[smh]", r["for"])
    assert r["labels"]["severity"] in {"warning", "critical"}
    assert r["annotations"]["summary"] and r["annotations"]["description"]


@pytest.mark.parametrize("alert", [r["alert"] for r in rules()])
def test_every_rule_reads_only_series_a_worker_serves_or_prometheus_makes(
    alert: str, served: set[str]
) -> None:
    """A renamed metric leaves its alert silent forever: Prometheus accepts the rule."""
    unknown = metric_names(rule(alert)["expr"]) - served - PROMETHEUS_OWN
    assert not unknown, f"{alert} reads series no process serves: {sorted(unknown)}"


def test_the_registry_holds_our_metrics_faststreams_and_the_processes(served: set[str]) -> None:
    """The oracle of the test above is the real one: the workers' own families, FastStream's
    middleware and the process collectors all register on the registry the worker serves."""
    prefixes = {name.split("_")[0] for name in served}
    assert {"workers", "faststream", "process", "python"} <= prefixes


def names_in(text: str) -> Iterable[str]:
    return re.findall(r"`((?:workers|faststream)_[a-z_]*[a-z])`", text)


def test_every_metric_the_operations_guide_names_is_served(
    served: set[str], served_families: dict[str, str]
) -> None:
    """The guide names a series (`…_total`) or a family (a histogram's name)."""
    named = set(names_in((ROOT / "docs" / "operations.md").read_text()))
    assert named, "the guide names no metric"
    unknown = named - served - set(served_families)
    assert not unknown, f"docs/operations.md names metrics no worker serves: {sorted(unknown)}"


def test_dead_letters_alert_on_any_increase_over_ten_minutes() -> None:
    expr = rule("WorkersDeadLettersGrowing")["expr"]
    assert "increase(workers_events_dead_lettered_total[10m])" in expr
    assert expr.rstrip().endswith("> 0")


def test_consumer_lag_alerts_past_ten_thousand_for_five_minutes() -> None:
    r = rule("WorkersConsumerLagHigh")
    assert "workers_consumer_pending" in r["expr"] and r["expr"].rstrip().endswith("> 10000")
    assert r["for"] == "5m"


def test_pending_events_without_commits_alert() -> None:
    expr = rule("WorkersNotCommitting")["expr"]
    assert metric_names(expr) == {"workers_apply_seconds_count", "workers_consumer_pending"}
    assert " and " in expr
