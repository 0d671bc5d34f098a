"""NATS credentials and TLS from the settings reach the broker (and plain nats-py clients); a
certificate refused at start-up, the server's or the client's, stops a worker or a command with
one line instead of a silent retry."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest
from cryptography import x509

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.nats.pki import CertificateAuthority, tls_block
from tests.workers.observability.obs_support import ConfiguredNats
from workers.config import Config, ConfigError
from workers.nats.broker import nats_connect_options
from workers.nats.connection import NatsCertificateRefused
from workers.service.worker import build_worker


def make_settings(tmp_path: Path, url: str, **values: object) -> Config:
    return Config(
        _env_file=None,  # type: ignore[call-arg]
        nats_url=url,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        metrics_port=0,
        **values,
    )


CONNECT_DEADLINE_S = 30.0


async def applies_one_event(settings: Config) -> None:
    """A worker with these settings connects, and an event published with them is applied."""
    worker = build_worker(settings)
    try:
        await asyncio.wait_for(worker.start(), CONNECT_DEADLINE_S)
    except TimeoutError:
        await worker.store.close()
        pytest.fail(f"the worker did not connect to {settings.nats_url} in {CONNECT_DEADLINE_S} s")
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
    with pytest.raises(ConfigError, match=f"NATS at {url} refused the credentials: check"):
        await worker.start()  # a setting to fix, reported as one: not retried, no traceback
    await worker.store.close()


async def test_token(tmp_path: Path, nats_with: Callable[[str], ConfiguredNats]) -> None:
    server = nats_with('authorization { token: "t0ken" }\n')
    url = f"nats://127.0.0.1:{server.port}"
    await applies_one_event(make_settings(tmp_path, url, nats_token="t0ken"))


@pytest.fixture
def pki(tmp_path: Path) -> tuple[CertificateAuthority, CertificateAuthority]:
    """The CA the client trusts, and another one (a server certificate it signed is refused)."""
    return (
        CertificateAuthority(tmp_path / "pki", "trusted-ca"),
        CertificateAuthority(tmp_path / "pki-unknown", "unknown-ca"),
    )


async def test_mutual_tls(
    tmp_path: Path,
    pki: tuple[CertificateAuthority, CertificateAuthority],
    nats_with: Callable[[str], ConfiguredNats],
) -> None:
    """NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY reach the broker: the server requires a
    client certificate its CA signed, and the worker verifies the server's (strictly on 3.13)."""
    ca, _ = pki
    server = nats_with(tls_block(ca.issue("server"), ca=ca) + "\n")
    client = ca.issue("client", client=True)
    settings = make_settings(
        tmp_path,
        f"tls://127.0.0.1:{server.port}",
        nats_tls_ca=ca.cert,
        nats_tls_cert=client.cert,
        nats_tls_key=client.key,
    )
    await applies_one_event(settings)


@pytest.mark.parametrize("client_certificate", ["none", "from another CA"])
async def test_a_client_certificate_the_server_refuses_stops_the_start(
    tmp_path: Path,
    pki: tuple[CertificateAuthority, CertificateAuthority],
    nats_with: Callable[[str], ConfiguredNats],
    client_certificate: str,
) -> None:
    """A server that requires a client certificate refuses a missing or foreign one with a TLS
    alert: the worker stops at start-up and says which settings to change, not retrying."""
    ca, other = pki
    server = nats_with(tls_block(ca.issue("server"), ca=ca) + "\n")
    mine = other.issue("client", client=True) if client_certificate != "none" else None
    settings = make_settings(
        tmp_path,
        f"tls://127.0.0.1:{server.port}",
        nats_tls_ca=ca.cert,
        nats_tls_cert=mine.cert if mine else None,
        nats_tls_key=mine.key if mine else None,
    )
    worker = build_worker(settings)
    try:
        with pytest.raises(NatsCertificateRefused, match="refused this client's certificate"):
            await asyncio.wait_for(worker.start(), CONNECT_DEADLINE_S)
    finally:
        await worker.store.close()


@pytest.fixture
def untrusted_tls_nats(
    pki: tuple[CertificateAuthority, CertificateAuthority],
    nats_with: Callable[[str], ConfiguredNats],
) -> tuple[str, Path]:
    """A NATS URL whose server presents a certificate from a CA the client does not trust, and
    the CA the client trusts."""
    trusted, unknown = pki
    server = nats_with(tls_block(unknown.issue("server")) + "\n")
    return f"tls://127.0.0.1:{server.port}", trusted.cert


def run_workers_command(
    tmp_path: Path, nats_url: str, ca: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m workers ARGS` as a user runs it (INFO logs), or fail if it is still running
    after a minute: nats-py retries a refused certificate for ever unless told otherwise."""
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "NATS_TLS_CA": str(ca),
        "STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "METRICS_PORT": "0",
        "PREPARE_PROCESSES": "0",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "text",
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "workers", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`{' '.join(args)}` still running after 60 s: {e.stderr!r}")


@pytest.mark.parametrize(
    "args",
    [
        ("worker",),
        ("streams",),
        ("dlq", "list"),
        ("publish", "--demo"),
        ("watch", ".", "--tenant", str(uuid.UUID(int=1)), "--session", str(uuid.UUID(int=2))),
    ],
    ids=["worker", "streams", "dlq", "publish", "watch"],
)
def test_a_server_certificate_the_client_refuses_stops_the_process_with_one_line(
    tmp_path: Path, untrusted_tls_nats: tuple[str, Path], args: tuple[str, ...]
) -> None:
    """A worker or a command facing a server certificate from an unknown CA would otherwise
    retry in silence (a worker for ever): it exits 2 with what is wrong and what to do."""
    url, ca = untrusted_tls_nats
    done = run_workers_command(tmp_path, url, ca, *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    refused = [line for line in done.stderr.splitlines() if "verification" in line]
    assert refused == [
        f"configuration error: NATS at {url} refused: its certificate failed verification "
        "(unable to get local issuer certificate): set NATS_TLS_CA to the CA that signed it "
        f"(NATS_TLS_CA={str(ca)!r} did not)"
    ], done.stderr
    assert done.stderr.splitlines()[-1] == refused[0]


async def test_a_certificate_for_another_host_is_refused_with_its_own_advice(
    tmp_path: Path,
    pki: tuple[CertificateAuthority, CertificateAuthority],
    nats_with: Callable[[str], ConfiguredNats],
) -> None:
    """A certificate from the trusted CA that does not name 127.0.0.1 is refused at the first
    connect, and the message says to connect by a name it carries, not to change the CA."""
    ca, _ = pki
    server = nats_with(tls_block(ca.issue("server", names=[x509.DNSName("nats.test")])) + "\n")
    settings = make_settings(tmp_path, f"tls://127.0.0.1:{server.port}", nats_tls_ca=ca.cert)
    worker = build_worker(settings)
    try:
        with pytest.raises(NatsCertificateRefused, match="subjectAltName lists"):
            await asyncio.wait_for(worker.start(), CONNECT_DEADLINE_S)
    finally:
        await worker.store.close()


async def test_a_certificate_python_3_13_refuses_is_refused_on_every_python(
    tmp_path: Path,
    pki: tuple[CertificateAuthority, CertificateAuthority],
    nats_with: Callable[[str], ConfiguredNats],
) -> None:
    """A server certificate without an Authority Key Identifier (what `openssl x509 -req`
    makes) passes Python 3.11's default verification and fails 3.13's: the workers verify
    strictly on every version, so it is found before an upgrade, and the message says why."""
    ca, _ = pki
    server = nats_with(tls_block(ca.issue("server", strict=False)) + "\n")
    settings = make_settings(tmp_path, f"tls://127.0.0.1:{server.port}", nats_tls_ca=ca.cert)
    with pytest.raises(NatsCertificateRefused, match=r"Authority Key Identifier.*strict X\.509"):
        nc = await asyncio.wait_for(
            nats.connect(settings.nats_url, **nats_connect_options(settings)), CONNECT_DEADLINE_S
        )
        await nc.close()
