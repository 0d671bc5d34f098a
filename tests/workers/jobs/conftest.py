"""Job fixtures: a store file per test, settings pointing at it, an injected clock, a seeder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from jobs_support import FakeClock, Seeder

from tests.helpers import store_url
from workers.config import Config
from workers.repositories import Repositories
from workers.store import Store, open_store
from workers.store.keys import Keys


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = open_store(store_url(db_path))  # TEST_STORE_URL under `make test-fdb`
    yield s
    await s.close()


@pytest.fixture
def repos(key_root: str) -> Repositories:
    return Repositories(Keys((key_root,)))  # "ide", the Config default, on a test's own file


@pytest.fixture
def settings(db_path: Path, key_root: str) -> Callable[..., Config]:
    def make(**overrides: object) -> Config:
        values: dict[str, object] = {
            "store_url": store_url(db_path),
            "key_root": key_root,
            **overrides,
        }
        return Config(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def seed(store: Store, repos: Repositories) -> Seeder:
    return Seeder(store, repos)
