"""Repository fixtures: a fresh SQLite store per test, the repositories, two tenants, a factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from repo_helpers import Make

from workers.repositories import Repositories
from workers.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    engine = SqliteStore(tmp_path / "repos.db", max_retries=5)
    yield engine
    await engine.close()


@pytest.fixture
def repos() -> Repositories:
    return Repositories()


@pytest.fixture
def tenant() -> UUID:
    return uuid4()


@pytest.fixture
def other_tenant() -> UUID:
    return uuid4()


@pytest.fixture
def make(tenant: UUID) -> Make:
    return Make(tenant)
