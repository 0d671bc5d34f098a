"""Running the command line as a user does, and what every run must show: the exit code, the
line the user reads, and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DOWN = "nats://127.0.0.1:1"  # nothing listens there
UNREACHABLE = f"error: cannot reach NATS at {DOWN} — is `make run` running? (or set NATS_URL)\n"


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float

    def lines(self) -> list[str]:
        return self.out.splitlines()


def workers(
    *args: str,
    nats: str = DOWN,
    store: str | None = None,
    cwd: Path | None = None,
    stdin: str | bytes | None = None,
    script: bool = False,
) -> Ran:
    """`python -m workers ARGS` (or the `workers` console script), with NATS_URL and
    STORE_URL as given (no STORE_URL: the default, relative to `cwd`)."""
    env = {**os.environ, "NATS_URL": nats, "LOG_LEVEL": "WARNING", "METRICS_PORT": "0"}
    env.pop("STORE_URL", None)
    if store is not None:
        env["STORE_URL"] = store
    command = [str(Path(sys.executable).parent / "workers")] if script else [
        sys.executable, "-m", "workers",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [*command, *args],
        env=env,
        cwd=cwd,
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=120,
    )
    ran = Ran(
        done.returncode, done.stdout.decode(), done.stderr.decode(), time.monotonic() - started
    )
    assert "Traceback" not in ran.err + ran.out, ran.err
    return ran
