"""Job fixtures: a store file per test, settings pointing at it, an injected clock, a seeder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from jobs_support import FakeClock, Seeder

from workers.config import Config
from workers.repositories import Repositories
from workers.store import Store, open_store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{db_path}")
    yield s
    await s.close()


@pytest.fixture
def repos() -> Repositories:
    return Repositories()  # root ("ide",): the Config default, as the child processes use


@pytest.fixture
def settings(db_path: Path) -> Callable[..., Config]:
    def make(**overrides: object) -> Config:
        values: dict[str, object] = {"store_url": f"sqlite:///{db_path}", **overrides}
        return Config(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def seed(store: Store, repos: Repositories) -> Seeder:
    return Seeder(store, repos)
