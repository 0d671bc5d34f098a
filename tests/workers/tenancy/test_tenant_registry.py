"""The registry of the multi-tenant mode, on disk: what one command saves, the next reads."""

from __future__ import annotations

import uuid
from pathlib import Path

from workers.nats.tenancy import Registry


def test_the_workers_password_saved_is_the_one_in_the_servers_accounts(tmp_path: Path) -> None:
    first = Registry(tmp_path)
    first.add(uuid.uuid4())  # `tenants add` before any `run`: the password is made on save
    first.save()
    again = Registry(tmp_path)
    password = again.workers_password()
    assert f'password: "{password}"' in again.accounts_conf.read_text()
    assert Registry(tmp_path).workers_password() == password


def test_a_file_monitor_credential_is_issued_once_then_reused(tmp_path: Path) -> None:
    tenant = uuid.uuid4()
    registry = Registry(tmp_path)
    registry.add(tenant)
    cred, issued = registry.file_monitor(tenant)
    assert issued and cred.role == "file-monitor"
    registry.save()
    assert Registry(tmp_path).file_monitor(tenant) == (cred, False)
    registry.revoke(tenant, "file-monitor")
    replacement, issued = registry.file_monitor(tenant)
    assert issued and replacement.user != cred.user
