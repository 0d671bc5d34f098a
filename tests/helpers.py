"""Test helpers shared across folders (import as `tests.helpers`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path


async def eventually(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 30.0,
    what: str = "condition",
) -> None:
    """Poll until `predicate` holds, or fail after `timeout` seconds (no sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def cli(
    nats_url: str, store_url: str, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m workers ARGS` as a user runs it, against the given NATS and store (and any
    other settings in `env`)."""
    full = {**os.environ, "NATS_URL": nats_url, "STORE_URL": store_url, "LOG_LEVEL": "WARNING"}
    return run_workers({**full, **env}, *args, stdin=stdin)


def run_workers(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m workers ARGS` with exactly this environment, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "workers", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def start_workers(
    env: dict[str, str], cwd: Path, *args: str, log: str = "workers.log", new_group: bool = False
) -> subprocess.Popen[bytes]:
    """`python -m workers ARGS` left running, its output in `cwd/log` (`proc.log_path`);
    `new_group`: in a process group of its own, as a terminal starts it."""
    log_path = cwd / log
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=out,
            start_new_session=new_group,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


# --- Which store the end-to-end tests use --------------------------------------------------
# `make test-fdb` sets TEST_STORE_URL (fdb:///…) so that the ingestion and retention tests run
# on FoundationDB; elsewhere each test has its own SQLite file. On a shared cluster each test
# gets its own key root (cleared afterwards), so tests never see each other's tenants.

TEST_STORE_URL = os.environ.get("TEST_STORE_URL", "")


def store_url(sqlite_file: os.PathLike[str] | str) -> str:
    """TEST_STORE_URL if set, else this test's own SQLite file."""
    return TEST_STORE_URL or f"sqlite:///{sqlite_file}"


def fresh_key_root() -> str:
    """The default root on a test's own SQLite file; a root of its own on a shared store."""
    return f"test-{uuid.uuid4().hex}" if TEST_STORE_URL else "ide"


def matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: `*` is one token, a trailing `>` one or more."""
    tokens, wanted = subject.split("."), pattern.split(".")
    if wanted[-1] == ">" and len(tokens) >= len(wanted):
        wanted, tokens = wanted[:-1], tokens[: len(wanted) - 1]
    if len(tokens) != len(wanted):
        return False
    return all(w in ("*", t) for w, t in zip(wanted, tokens, strict=True))
