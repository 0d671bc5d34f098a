"""NATS credentials and TLS from the settings reach the broker (and plain nats-py clients)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import ConfiguredNats
from workers.config import Config
from workers.nats.broker import nats_connect_options
from workers.service.worker import build_worker


def make_settings(tmp_path: Path, url: str, **values: object) -> Config:
    return Config(
        _env_file=None,  # type: ignore[call-arg]
        nats_url=url,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        metrics_port=0,
        **values,
    )


async def applies_one_event(settings: Config) -> None:
    """A worker with these settings connects, and an event published with them is applied."""
    worker = build_worker(settings)
    await worker.start()
    try:
        nc = await nats.connect(settings.nats_url, **nats_connect_options(settings))
        try:
            await nc.jetstream().publish(
                "message.sent", dumps(message_sent(uuid.uuid4(), uuid.uuid4()))
            )
        finally:
            await nc.close()
        await eventually(lambda: worker.ingestor.stats.applied == 1, what="the event applied")
    finally:
        await worker.stop()


@pytest.fixture
def nats_with(tmp_path: Path) -> Iterator[Callable[[str], ConfiguredNats]]:
    servers: list[ConfiguredNats] = []

    def start(extra: str) -> ConfiguredNats:
        servers.append(ConfiguredNats(tmp_path / f"nats-{len(servers)}", extra))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


async def test_user_and_password(
    tmp_path: Path, nats_with: Callable[[str], ConfiguredNats]
) -> None:
    server = nats_with('authorization { user: "ide", password: "s3cret" }\n')
    url = f"nats://127.0.0.1:{server.port}"
    await applies_one_event(make_settings(tmp_path, url, nats_user="ide", nats_password="s3cret"))


async def test_a_wrong_password_fails_the_start(
    tmp_path: Path, nats_with: Callable[[str], ConfiguredNats]
) -> None:
    server = nats_with('authorization { user: "ide", password: "s3cret" }\n')
    url = f"nats://127.0.0.1:{server.port}"
    worker = build_worker(make_settings(tmp_path, url, nats_user="ide", nats_password="wrong"))
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await worker.start()
    await worker.store.close()


async def test_token(tmp_path: Path, nats_with: Callable[[str], ConfiguredNats]) -> None:
    server = nats_with('authorization { token: "t0ken" }\n')
    url = f"nats://127.0.0.1:{server.port}"
    await applies_one_event(make_settings(tmp_path, url, nats_token="t0ken"))


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem",
                cwd=d)  # fmt: skip
    return d


async def test_mutual_tls(
    tmp_path: Path, certificates: Path, nats_with: Callable[[str], ConfiguredNats]
) -> None:
    d = certificates
    server = nats_with(
        f'tls {{ cert_file: "{d / "server.pem"}", key_file: "{d / "server-key.pem"}", '
        f'ca_file: "{d / "ca.pem"}", verify: true }}\n'
    )
    settings = make_settings(
        tmp_path,
        f"tls://127.0.0.1:{server.port}",
        nats_tls_ca=d / "ca.pem",
        nats_tls_cert=d / "client.pem",
        nats_tls_key=d / "client-key.pem",
    )
    await applies_one_event(settings)
