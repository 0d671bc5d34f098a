"""Metrics (Prometheus), health and readiness, structured logs.

`metrics.Metrics` holds a process's metrics; `endpoint.Observability` serves them with /healthz
and /readyz on METRICS_PORT; `logs.setup_logging` makes every log line JSON (or text).
"""
