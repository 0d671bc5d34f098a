"""From settings to the store and repositories: the wiring every process shares."""

from __future__ import annotations

from workers.config import Config
from workers.repositories import Repositories
from workers.store import FaultInjector, Store, open_store
from workers.store.keys import Keys


def open_configured_store(settings: Config) -> Store:
    faults = FaultInjector.parse(settings.store_faults) if settings.store_faults else None
    return open_store(settings.store_url, timeout_s=settings.store_timeout_s, faults=faults)


def key_root(settings: Config) -> tuple[str]:
    return (settings.key_root,)


def repositories(settings: Config) -> Repositories:
    return Repositories(Keys(key_root(settings)))
