"""What a command opens: the settings (with `--nats-url` / `--store-url`), a NATS connection
that fails within about two seconds, and a store that must already exist.

A command is not a worker: it must not wait minutes for a NATS that is down, and it must not
create an empty store in whatever folder it was started from and then report on that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workers.cli.errors import CommandError
from workers.config import Config

if TYPE_CHECKING:
    from nats.aio.client import Client

    from workers.repositories import Repositories
    from workers.store import Store

CONNECT_TIMEOUT_S = 1.0  # per attempt; a refused connection fails at once


@dataclass
class Overrides:
    """The global options, which win over the environment and `.env`."""

    nats_url: str | None = None
    store_url: str | None = None


overrides = Overrides()
_settings: Config | None = None


def settings() -> Config:
    """The configuration, read once per process; logging is set up from it."""
    global _settings
    if _settings is None:
        from workers.observability.logs import setup_logging

        given = {k: v for k, v in vars(overrides).items() if v is not None}
        _settings = _as_workers(Config.from_env(**given))
        setup_logging(_settings.log_level, _settings.log_format)
    return _settings


def _as_workers(config: Config) -> Config:
    """Multi-tenant mode: commands connect as the workers' user (the account that holds the
    streams), from the registry in DATA_DIR, unless NATS_USER names another."""
    from workers.nats.tenancy import Registry, as_workers

    if not config.multi_tenant or config.nats_user:
        return config
    registry = Registry(config.data_dir)
    return as_workers(config, registry) if registry.exists else config


def sqlite_file(store_url: str) -> Path | None:
    """The file an SQLite STORE_URL names (None for FoundationDB)."""
    if not store_url.startswith("sqlite:///"):
        return None
    return Path(store_url.removeprefix("sqlite:///"))


def unreachable(url: str) -> CommandError:
    return CommandError(f"cannot reach NATS at {url} — is `make run` running? (or set NATS_URL)")


@asynccontextmanager
async def nats_connection(config: Config) -> AsyncIterator[Client]:
    """A short-lived connection: one quick attempt, quiet while trying (the command reports
    an unreachable server itself), a refused certificate still a configuration error."""
    import nats
    from nats.errors import Error as NatsError

    from workers.nats.broker import nats_connect_options
    from workers.nats.connection import CertificateRefusal, credentials_refused

    options = {**nats_connect_options(config), **CertificateRefusal(config).callbacks()}
    try:
        nc = await nats.connect(
            config.nats_url,
            connect_timeout=CONNECT_TIMEOUT_S,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.2,
            **options,
        )
    except (OSError, TimeoutError, NatsError) as e:
        if isinstance(e, NatsError) and (refused := credentials_refused(config.nats_url, e)):
            raise CommandError(str(refused), 2) from None
        raise unreachable(config.nats_url) from None
    try:
        yield nc
    finally:
        await nc.close()


@asynccontextmanager
async def existing_store(config: Config) -> AsyncIterator[tuple[Store, Repositories]]:
    """The store and its repositories; an SQLite file that does not exist is an error, not a
    new empty store (a command started in another folder would report on that)."""
    from workers.service.wiring import open_configured_store, repositories

    path = sqlite_file(config.store_url)
    if path is not None and not path.is_file():
        raise CommandError(
            f"no store at {path}; set STORE_URL (or --store-url) to the workers' store"
        )
    store = open_configured_store(config)
    try:
        yield store, repositories(config)
    finally:
        await store.close()
