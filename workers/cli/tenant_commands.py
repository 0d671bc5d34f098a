"""`tenants add|creds|revoke`: the multi-tenant mode's tenants and their producers' credentials
(`tenants list`, beside them in `read_commands`, shows which have some)."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from workers.cli.errors import CommandError, UsageProblem
from workers.cli.read_commands import tenants
from workers.cli.resources import settings
from workers.nats.tenancy import (
    ROLE_SUBJECTS,
    Registry,
    TenancyError,
    as_workers,
    credentials_env,
)


class Role(StrEnum):
    FILE_MONITOR = "file-monitor"
    IDE = "ide"
    AGENT_RUNTIME = "agent-runtime"


assert set(Role) == set(ROLE_SUBJECTS), "a role without its permissions, or the reverse"

TenantArg = Annotated[UUID, typer.Argument(help="The tenant (UUID).", show_default=False)]


def _registry() -> Registry:
    config = settings()
    if not config.multi_tenant:
        raise UsageProblem(
            "tenants add, creds and revoke are for the multi-tenant mode: set MULTI_TENANT=true"
        )
    return Registry(config.data_dir)


def _apply(registry: Registry, new_tenant: UUID | None = None) -> str:
    """Save, have a running local nats-server re-read its accounts, and give a new tenant its
    stream (EVENTS sources it) when NATS answers; else the workers do it when they start."""
    from workers.nats.local_server import LocalNatsServer, reachable
    from workers.nats.streams import tenant_stream_name
    from workers.nats.tenancy import reload_server

    registry.save()
    pid_file = LocalNatsServer.pid_file_in(settings().data_dir / "nats")
    note = (
        "nats-server reloaded"
        if reload_server(pid_file)
        else f"nats-server not running here: it reads {registry.accounts_conf} when it starts"
    )
    if new_tenant is not None and reachable(settings().nats_url):
        asyncio.run(_tenant_stream(registry, str(new_tenant)))
        note += f"; stream {tenant_stream_name(str(new_tenant))} ready"
    return note


async def _tenant_stream(registry: Registry, tenant: str) -> None:
    from workers.cli.resources import nats_connection
    from workers.nats.streams import ensure_streams

    config = as_workers(settings(), registry)
    async with nats_connection(config) as nc:
        await ensure_streams(nc.jetstream(), config, [tenant])


@tenants.command("add")
def tenants_add(tenant: TenantArg) -> int:
    """Give a tenant its NATS account (multi-tenant mode); then `tenants creds`."""
    registry = _registry()
    added = registry.add(tenant)
    note = _apply(registry, tenant)
    print(f"tenant {tenant} {'added' if added else 'already active'}; {note}")
    return 0


@tenants.command("creds")
def tenants_creds(
    tenant: Annotated[UUID, typer.Option(help="The tenant (UUID).", show_default=False)],
    role: Annotated[Role, typer.Option(help="What the producer is.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option(help="Write here (mode 0600) instead of DATA_DIR/tenancy/creds/."),
    ] = None,
) -> int:
    """A producer's credentials: an environment file with NATS_URL, NATS_USER, NATS_PASSWORD
    (`set -a; . FILE; set +a`); its user may publish only its role's subjects."""
    registry = _registry()
    try:
        cred = registry.issue(tenant, role.value)
    except TenancyError as e:
        raise CommandError(str(e)) from None
    note = _apply(registry)
    path = out or registry.dir / "creds" / f"{cred.user}.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(credentials_env(cred, settings().nats_url, tenant))
    print(path)
    print(f"user {cred.user} may publish {', '.join(ROLE_SUBJECTS[role])}; {note}", file=sys.stderr)
    return 0


@tenants.command("revoke")
def tenants_revoke(
    tenant: TenantArg,
    role: Annotated[
        Role | None, typer.Option(help="Only this role's credentials (default: the tenant's).")
    ] = None,
) -> int:
    """Revoke a tenant (its account and every credential) or one role's credentials: the
    server closes their connections at once; the workers keep running."""
    registry = _registry()
    try:
        n = registry.revoke(tenant, role.value if role else None)
    except TenancyError as e:
        raise CommandError(str(e)) from None
    note = _apply(registry)
    what = f"{role.value} credentials" if role else "tenant and credentials"
    print(f"revoked {n} credential{'s' if n != 1 else ''} of {tenant} ({what}); {note}")
    return 0
