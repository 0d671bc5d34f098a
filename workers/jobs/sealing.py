"""The sealing job: every tenant's new audit records into signed checkpoints, off the ingest
path, one window per transaction, under a job lease like the retention jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from uuid import UUID

from workers.config import Config
from workers.ids import utcnow
from workers.jobs.clock import Clock
from workers.jobs.executor import default_owner
from workers.repositories import Repositories
from workers.repositories.audit_seal import Checkpoint
from workers.repositories.audit_signing import KeyProblem, Signer
from workers.repositories.leases import LeaseLost
from workers.store.port import Store, Transaction

JOB = "seal"


@dataclass
class SealSummary:
    owner: str
    windows: dict[UUID, list[Checkpoint]] = field(default_factory=dict)
    skipped: str | None = None
    interrupted: str | None = None

    @property
    def records(self) -> int:
        return sum(cp.size for cps in self.windows.values() for cp in cps)

    def lines(self) -> list[str]:
        if self.skipped:
            return [f"audit seal skipped: {self.skipped}"]
        out = [
            f"audit seal: tenant {t}: {len(cps)} windows, {sum(c.size for c in cps):,} records"
            + (f", through window {cps[-1].window}" if cps else "")
            for t, cps in self.windows.items()
        ]
        if self.interrupted:
            out.append(f"audit seal interrupted: {self.interrupted}; the next run resumes it")
        return out


def signer_of(settings: Config) -> Signer:
    if settings.audit_signing_key_file is None:
        raise KeyProblem(
            "AUDIT_SIGNING_KEY_FILE is not set: no key to sign checkpoints with "
            "(openssl genpkey -algorithm ed25519 -out audit.key)"
        )
    return Signer.from_file(settings.audit_signing_key_file)


async def run_seal(
    store: Store,
    repos: Repositories,
    settings: Config,
    *,
    tenant: UUID | None = None,
    clock: Clock = utcnow,
    owner: str | None = None,
    on_window: Callable[[Checkpoint], None] | None = None,
) -> SealSummary:
    """Seal every queued record of one tenant or all; each window commits on its own, so a
    killed run leaves whole windows and the next run carries on from the queue."""
    signer = signer_of(settings)
    summary = SealSummary(owner or default_owner())
    ttl, who = settings.lease_ttl_s, summary.owner
    lease = await store.transact(lambda tr: repos.leases.acquire(tr, JOB, who, clock(), ttl))
    if lease.owner != who:
        summary.skipped = f"{lease.owner} holds the lease until {lease.expires_at.isoformat()}"
        return summary

    def one(t: UUID, tr: Transaction) -> Checkpoint | None:
        repos.leases.renew(tr, JOB, who, clock(), ttl)
        return repos.audit.seal.seal_window(tr, t, signer, settings.audit_seal_window, clock())

    try:
        for t in [tenant] if tenant is not None else await repos.tenants.all(store):
            sealed = summary.windows.setdefault(t, [])
            while (cp := await store.transact(partial(one, t))) is not None:
                sealed.append(cp)
                if on_window is not None:
                    on_window(cp)
    except LeaseLost as e:
        summary.interrupted = str(e)
    finally:
        await store.transact(lambda tr: repos.leases.release(tr, JOB, who))
    return summary
