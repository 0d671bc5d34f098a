"""What a long-running process (`run`, `worker`, `scheduler`) serves on METRICS_PORT:

- `/metrics`: Prometheus text format, this process's registry;
- `/healthz`: 200 while the process (its event loop) is alive;
- `/readyz`: 200 when every check passes (NATS connected, store answering a read), else 503;
  the JSON body names each check: `{"ready": false, "checks": {"nats": "not connected…"}}`.
"""

from __future__ import annotations

import json

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    generate_latest,
)

from workers.config import Config, ConfigError
from workers.observability.health import Health
from workers.observability.metrics import Metrics
from workers.observability.server import HttpServer, Response

JSON = "application/json"


class Observability:
    """The metrics, the readiness checks and (unless METRICS_PORT=0) their HTTP endpoint."""

    def __init__(self, settings: Config, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        for collector in (
            PROCESS_COLLECTOR,
            PLATFORM_COLLECTOR,
            GC_COLLECTOR,
        ):  # process_*, python_*
            self.metrics.registry.register(collector)
        self.health = Health()
        self.server: HttpServer | None = None
        if settings.metrics_port:
            routes = {"/metrics": self._metrics, "/healthz": self._alive, "/readyz": self._ready}
            self.server = HttpServer(routes, settings.metrics_host, settings.metrics_port)

    async def start(self) -> None:
        if self.server is None:
            return
        try:
            await self.server.start()
        except OSError as e:
            where = f"{self.server.host}:{self.server.port}"
            raise ConfigError(
                f"METRICS_PORT={self.server.port}: cannot listen on {where} ({e.strerror}); "
                "choose a free port, or 0 to turn the endpoint off"
            ) from None

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def _metrics(self) -> Response:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)

    async def _alive(self) -> Response:
        return 200, JSON, b'{"alive": true}\n'

    async def _ready(self) -> Response:
        ready, checks = await self.health.readiness()
        body = json.dumps({"ready": ready, "checks": checks}).encode() + b"\n"
        return (200 if ready else 503), JSON, body
