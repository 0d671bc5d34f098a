"""A minimal HTTP/1.1 server on the process's event loop: GET (and HEAD) of a few fixed paths.

Enough for Prometheus and for Kubernetes probes; no dependency beyond asyncio. Each connection
serves one request and closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus

log = logging.getLogger(__name__)

Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[], Awaitable[Response]]

READ_TIMEOUT_S = 5.0
MAX_HEADER_LINES = 100


class HttpServer:
    def __init__(self, routes: Mapping[str, Route], host: str, port: int) -> None:
        self.routes, self.host, self.port = routes, host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT_S)
            status, content_type, body = await self._respond(method, path)
            reason = HTTPStatus(status).phrase
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError) as e:
            log.debug("metrics endpoint: dropped a request: %r", e)
        finally:
            writer.close()

    async def _respond(self, method: str, path: str) -> Response:
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return 404, "text/plain; charset=utf-8", b"not found\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"GET only\n"
        return await route()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path; the headers are read and ignored."""
    parts = (await reader.readline()).decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError(f"bad request line {' '.join(parts)[:80]!r}")
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()).strip() == b"":
            return parts[0], parts[1]
    raise ValueError("too many header lines")
