"""`run` says when it is ready, where its metrics are and how to stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import eventually
from workers.nats.local_server import LocalNatsServer, free_port


async def test_run_prints_a_ready_line_and_stops_on_ctrl_c(
    tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "STORE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(port),
        "SCHEDULER_ENABLED": "false",
        "PREPARE_PROCESSES": "0",
        "LOG_LEVEL": "WARNING",
    }
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "run"], env=env, stdout=o, stderr=e
        )
    try:
        await eventually(lambda: "ready:" in out.read_text(), timeout=60, what="the ready line")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.read_text() == (
        f"ready: workers consuming from {nats_server.url} into {env['STORE_URL']}; metrics on "
        f"http://127.0.0.1:{port}/metrics (listening on 127.0.0.1); Ctrl-C stops\n"
    )
    assert "Traceback" not in err.read_text()
