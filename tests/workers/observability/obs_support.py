"""Helpers for the observability tests: HTTP reads of a worker's endpoint, metric lookups."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, later, message_sent
from workers.nats.local_server import find_binary, free_port, reachable


def get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:port/path; status 0 if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


async def aget(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(get, port, path)


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body as sent) of one request: urllib neither negotiates nor
    decompresses, so what the endpoint chose (format, gzip) is what the test sees."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers=headers or {}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, lower_keys(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, lower_keys(e.headers.items()), e.read()


def lower_keys(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


async def afetch(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(fetch, port, path, headers, method)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def metric(port: int, name: str, default: float | None = None, **labels: str) -> float:
    """One sample's value from the live endpoint. A series the endpoint does not serve fails
    the test (a gauge that is never set must not pass for 0), unless the caller names the
    `default` it means, e.g. `default=0` while a counter has not counted yet."""
    status, text = await aget(port, "/metrics")
    assert status == 200, text
    found = samples(text)
    value = found.get((name, frozenset(labels.items())))
    if value is not None:
        return value
    if default is None:
        served = sorted(str(dict(ls)) for n, ls in found if n == name)
        raise AssertionError(f"/metrics serves no {name} {labels}; only {served}")
    return default


async def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    async def ready() -> bool:
        if proc.poll() is not None:
            log = proc.log_path.read_text()[-3000:]  # type: ignore[attr-defined]
            raise AssertionError(f"worker exited with {proc.returncode}: {log}")
        return (await aget(port, "/readyz"))[0] == 200

    await eventually(ready, timeout=timeout, what="/readyz to answer 200")


async def publish_messages(
    nc: Client, tenant: uuid.UUID, convs: list[uuid.UUID], n: int
) -> dict[uuid.UUID, tuple[int, int]]:
    """n message.sent events spread over `convs`; returns the counts they add up to."""
    js = nc.jetstream(publish_async_max_pending=2000)
    want = {c: (0, 0) for c in convs}
    for i in range(n):
        conv, tokens = convs[i % len(convs)], i % 7 + 1
        await js.publish_async(
            "message.sent", dumps(message_sent(tenant, conv, tokens=tokens, at=later(i % 500)))
        )
        m, t = want[conv]
        want[conv] = (m + 1, t + tokens)
    await js.publish_async_completed()
    return want


class ConfiguredNats:
    """A nats-server with extra configuration (authorization, tls), JetStream on, loopback."""

    def __init__(self, directory: Path, extra: str) -> None:
        self.directory, self.port = directory, free_port()
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "nats.conf"
        config.write_text(
            f'listen: 127.0.0.1:{self.port}\njetstream {{ store_dir: "{directory / "js"}" }}\n'
            + extra
        )
        self.log = open(directory / "nats.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [find_binary(), "-c", str(config)], stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 15
        while not reachable(f"nats://127.0.0.1:{self.port}", 0.2):
            assert self.process.poll() is None, (directory / "nats.log").read_text()
            assert time.monotonic() < deadline, "nats-server did not listen"
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()
