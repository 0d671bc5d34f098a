"""Multi-tenant mode: NATS accounts make the server, not the payload, say whose event it is.

Each tenant is a NATS account named by its tenant id; the workers and the streams live in the
WORKERS account. WORKERS exports each event subject as a service `tenant.*.<subject>` with
`account_token_position: 2`: an account may import only `tenant.<its own name>.<subject>`, and
maps it to the plain subject its producers publish on. A producer of tenant T that publishes
`file.changed` therefore lands on `tenant.T.file.changed` in stream EVENTS (and gets
JetStream's ack back through the import); it cannot name another tenant's subject, and it sees
no stream, no consumer and no dead-letter subject, since those exist only in WORKERS. Each
producer user may publish only its role's subjects.

The registry (tenants, their credentials, revoked or not) is a JSON file beside the generated
server configuration; the server reads only the configuration, and a revocation rewrites it
and reloads the server (SIGHUP): the connections of removed users are closed, the workers
keep running.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from events.subjects import (
    AUDIT_PREFIX,
    FILE_CHANGED,
    MESSAGE_SENT,
    SETTING_CHANGED,
    SUBJECT_MODELS,
    TENANT_PREFIX,
)
from workers.config import Config

WORKERS_ACCOUNT = "WORKERS"
WORKERS_USER = "workers"

ROLE_SUBJECTS: dict[str, tuple[str, ...]] = {
    "file-monitor": (FILE_CHANGED,),
    "ide": (MESSAGE_SENT, "conversation.*", SETTING_CHANGED, f"{AUDIT_PREFIX}.*"),
    "agent-runtime": ("agent.*",),
}
"""What each producer role may publish: its user's publish permissions."""

READ_PREFIX = "reads"
READERS = frozenset({"ide", "agent-runtime"})
DISCOVERY = ("$SRV.PING.reads", "$SRV.PING.reads.>", "$SRV.INFO.reads", "$SRV.INFO.reads.>")
"""The reads service's discovery a tenant may use; not `$SRV.STATS`: its counters and last
errors are of every tenant's requests."""
READ_SUBJECTS = (f"{READ_PREFIX}.>", *DISCOVERY)
"""What a reader role may request too: the reads service's endpoints (`reads.<endpoint>`,
which its account imports from `reads.<tenant>.<endpoint>`) and its discovery subjects."""


class TenancyError(ValueError):
    """A tenant or credential that cannot be added, issued or revoked as asked."""


@dataclass(frozen=True)
class Credential:
    user: str
    password: str
    role: str
    revoked: bool = False


def tenancy_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "tenancy"


class Registry:
    """The tenants of the multi-tenant mode and their producers' credentials (a JSON file)."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = tenancy_dir(data_dir)
        self.path = self.dir / "tenants.json"
        self.accounts_conf = self.dir / "accounts.conf"
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text()) if self.path.exists() else {"tenants": {}}
        )

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def workers_password(self) -> str:
        """The WORKERS account's user's password, made on first use."""
        if "workers_password" not in self.data:
            self.data["workers_password"] = secrets.token_urlsafe(24)
        return str(self.data["workers_password"])

    def tenants(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["tenants"])

    def add(self, tenant: UUID) -> bool:
        """Register `tenant` (again, if it was revoked); False if it was already active."""
        entry = self.data["tenants"].setdefault(str(tenant), {"revoked": False, "creds": []})
        was_active = not entry.get("new", True) and not entry["revoked"]
        entry["revoked"] = False
        entry["new"] = False
        return not was_active

    def issue(self, tenant: UUID, role: str) -> Credential:
        if role not in ROLE_SUBJECTS:
            raise TenancyError(f"unknown role {role!r}: expected one of {', '.join(ROLE_SUBJECTS)}")
        entry = self._active(tenant)
        number = len(entry["creds"]) + 1
        cred = Credential(f"{tenant}-{role}-{number}", secrets.token_urlsafe(24), role)
        entry["creds"].append(cred.__dict__.copy())
        return cred

    def revoke(self, tenant: UUID, role: str | None = None) -> int:
        """Revoke the tenant's credentials (of `role`, or all and the tenant itself)."""
        entry = self.data["tenants"].get(str(tenant))
        if entry is None:
            raise TenancyError(f"no tenant {tenant} in {self.path}: see `workers tenants list`")
        revoked = 0
        for c in entry["creds"]:
            if not c["revoked"] and role in (None, c["role"]):
                c["revoked"] = True
                revoked += 1
        if role is None:
            entry["revoked"] = True
        return revoked

    def file_monitor(self, tenant: UUID) -> tuple[Credential, bool]:
        """An active file-monitor credential of `tenant` (for the watcher inside `run`), and
        whether it was issued just now because the tenant had none."""
        self._active(tenant)
        for cred in self.credentials(tenant):
            if cred.role == "file-monitor" and not cred.revoked:
                return cred, False
        return self.issue(tenant, "file-monitor"), True

    def credentials(self, tenant: UUID) -> list[Credential]:
        entry = self.data["tenants"].get(str(tenant), {"creds": []})
        return [Credential(**c) for c in entry["creds"]]

    def save(self) -> None:
        """Write the registry and the server's accounts configuration (both 0600: passwords)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        accounts = self.accounts()  # first: it makes the workers' password on first use
        _write_private(self.path, json.dumps(self.data, indent=1, sort_keys=True))
        _write_private(self.accounts_conf, accounts)

    def _active(self, tenant: UUID) -> dict[str, Any]:
        entry: dict[str, Any] | None = self.data["tenants"].get(str(tenant))
        if entry is None or entry["revoked"]:
            raise TenancyError(f"tenant {tenant} is not active: `workers tenants add {tenant}`")
        return entry  # the stored dict: edited in place

    def accounts(self) -> str:
        """The `accounts { … }` block of nats-server's configuration for the mode."""
        exports = "\n".join(
            [
                *(
                    f'      {{service: "{TENANT_PREFIX}.*.{s}", account_token_position: 2}}'
                    for s in SUBJECT_MODELS
                ),
                f'      {{service: "{READ_PREFIX}.*.>", account_token_position: 2}}',
                '      {service: "$SRV.>"}',
            ]
        )
        blocks = [
            f"  {WORKERS_ACCOUNT}: {{\n    jetstream: enabled\n"
            f'    users: [{{user: "{WORKERS_USER}", password: "{self.workers_password()}"}}]\n'
            f"    exports: [\n{exports}\n    ]\n  }}"
        ]
        for tenant, entry in sorted(self.data["tenants"].items()):
            if entry["revoked"]:
                continue
            users = ",\n".join(_user(Credential(**c)) for c in entry["creds"] if not c["revoked"])
            imports = "\n".join(
                [
                    *(
                        f"      {{service: {{account: {WORKERS_ACCOUNT}, subject: "
                        f'"{TENANT_PREFIX}.{tenant}.{s}"}}, to: "{s}"}}'
                        for s in SUBJECT_MODELS
                    ),
                    f"      {{service: {{account: {WORKERS_ACCOUNT}, subject: "
                    f'"{READ_PREFIX}.{tenant}.>"}}, to: "{READ_PREFIX}.>"}}',
                    *(
                        f'      {{service: {{account: {WORKERS_ACCOUNT}, subject: "{srv}"}}}}'
                        for srv in DISCOVERY
                    ),
                ]
            )
            blocks.append(
                f'  "{tenant}": {{\n    users: [\n{users}\n    ]\n'
                f"    imports: [\n{imports}\n    ]\n  }}"
            )
        return "accounts {\n" + "\n".join(blocks) + "\n}\n"


def _user(cred: Credential) -> str:
    reads = READ_SUBJECTS if cred.role in READERS else ()
    allow = json.dumps([*ROLE_SUBJECTS[cred.role], *reads])
    return (
        f'      {{user: "{cred.user}", password: "{cred.password}", permissions: {{'
        f'publish: {{allow: {allow}}}, subscribe: {{allow: ["_INBOX.>"]}}}}}}'
    )


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def credentials_env(cred: Credential, nats_url: str, tenant: UUID) -> str:
    """What a producer needs, as an environment file (`set -a; . FILE; set +a`)."""
    return (
        f"# {cred.role} of tenant {tenant}: may publish {', '.join(ROLE_SUBJECTS[cred.role])}\n"
        f"NATS_URL={nats_url}\nNATS_USER={cred.user}\nNATS_PASSWORD={cred.password}\n"
        + (f"WATCH_TENANT={tenant}\n" if cred.role == "file-monitor" else "")
    )


def as_workers(settings: Config, registry: Registry) -> Config:
    """`settings` connecting as the WORKERS account's user, unless NATS_USER names one."""
    if settings.nats_user:
        return settings
    password = SecretStr(registry.workers_password())
    return settings.model_copy(update={"nats_user": WORKERS_USER, "nats_password": password})


def reload_server(pid_file: Path) -> bool:
    """Ask the nats-server that wrote `pid_file` to re-read its configuration (SIGHUP);
    False when none is running there."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return True
