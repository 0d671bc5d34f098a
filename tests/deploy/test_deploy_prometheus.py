"""deploy/prometheus/alerts.yaml: a Prometheus rule file whose every expression parses as PromQL
(promql-parser, offline) and alerts on the workers' own metrics."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, load_yaml

promql = pytest.importorskip("promql_parser", reason="pip install -e '.[dev]' (promql-parser)")

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
METRICS = {
    "workers_events_dead_lettered_total",
    "workers_consumer_pending",
    "workers_apply_seconds_count",
    "up",
}
"""Every series the rules read: the workers' metrics (served on /metrics) and Prometheus' own."""


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
    assert metric_names(r["expr"]) <= METRICS
    if "for" in r:
        assert re.fullmatch(r"\d+[smh]", r["for"])
    assert r["labels"]["severity"] in {"warning", "critical"}
    assert r["annotations"]["summary"] and r["annotations"]["description"]


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
