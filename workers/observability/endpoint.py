"""What a long-running process (`run`, `worker`, `scheduler`) serves on METRICS_PORT:

- `/metrics`: this process's registry, in the format the scraper asks for (Prometheus text, or
  OpenMetrics for `Accept: application/openmetrics-text`), gzipped when it accepts gzip;
- `/healthz`: 200 while the process (its event loop) is alive;
- `/readyz`: 200 when every check passes (NATS connected, store answering a read), else 503;
  the JSON body names each check: `{"ready": false, "checks": {"nats": "not connected…"}}`.

Served by aiohttp on the process's event loop (GET and HEAD; other paths 404, other methods 405).
"""

from __future__ import annotations

import gzip
import json

from aiohttp import hdrs, web
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
from prometheus_client.exposition import choose_encoder, gzip_accepted

from workers.config import Config, ConfigError
from workers.observability.health import READY_TIMEOUT_S, Health
from workers.observability.metrics import Metrics

JSON = "application/json"
# stop() waits this long for requests in flight (a /readyz takes up to READY_TIMEOUT_S)
SHUTDOWN_TIMEOUT_S = READY_TIMEOUT_S + 1.0


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
        self.host, self.port = settings.metrics_host, settings.metrics_port
        self.app: web.Application | None = None
        if self.port:
            self.app = web.Application()
            self.app.router.add_get("/metrics", self._metrics)  # HEAD as well
            self.app.router.add_get("/healthz", self._alive)
            self.app.router.add_get("/readyz", self._ready)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self.app is None:
            return
        # no access log: a scrape and two probes every few seconds would drown the real lines
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            raise ConfigError(
                f"METRICS_PORT={self.port}: cannot listen on {self.host}:{self.port} "
                f"({e.strerror}); choose a free port, or 0 to turn the endpoint off"
            ) from None
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        """Negotiated as prometheus_client's own handlers do (its `_bake_output`)."""
        encoder, content_type = choose_encoder(request.headers.get(hdrs.ACCEPT, ""))
        body = encoder(self.metrics.registry)
        headers = {hdrs.CONTENT_TYPE: content_type}
        if gzip_accepted(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            body = gzip.compress(body)
            headers[hdrs.CONTENT_ENCODING] = "gzip"
        return web.Response(body=body, headers=headers)

    async def _alive(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"alive": true}\n', content_type=JSON)

    async def _ready(self, request: web.Request) -> web.Response:
        ready, checks = await self.health.readiness()
        body = json.dumps({"ready": ready, "checks": checks}).encode() + b"\n"
        return web.Response(status=200 if ready else 503, body=body, content_type=JSON)
