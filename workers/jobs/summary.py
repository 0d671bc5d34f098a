"""What a job run reports: per-tenant counts, the cutoff, how long it took, and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class JobProgress:
    """Sent after every batch; counts are the tenant's run so far (a resumed run included)."""

    job: str
    tenant: UUID
    removed: int
    held: int
    batches: int
    dry_run: bool


@dataclass
class TenantResult:
    tenant: UUID
    days: float
    cutoff: datetime
    removed: int = 0  # in a dry run: what would have been removed
    held: int = 0
    batches: int = 0
    duration_ms: int = 0
    resumed: bool = False  # carried on from a continuation an interrupted run left behind
    complete: bool = False
    receipt_id: UUID | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": str(self.tenant),
            "days": self.days,
            "cutoff": self.cutoff.isoformat(),
            "removed": self.removed,
            "held_back": self.held,
            "batches": self.batches,
            "duration_ms": self.duration_ms,
            "resumed": self.resumed,
            "complete": self.complete,
            "receipt_id": str(self.receipt_id) if self.receipt_id else None,
        }


@dataclass
class JobSummary:
    job: str
    title: str
    owner: str
    dry_run: bool
    days: float
    cutoff: datetime  # the default one; a tenant override shows in its TenantResult
    started_at: datetime
    duration_s: float = 0.0
    tenants: list[TenantResult] = field(default_factory=list)
    skipped: str | None = None  # the job did not run: who holds the lease, until when
    interrupted: str | None = None  # the lease was taken over mid-run

    @property
    def removed(self) -> int:
        return sum(t.removed for t in self.tenants)

    @property
    def held(self) -> int:
        return sum(t.held for t in self.tenants)

    @property
    def batches(self) -> int:
        return sum(t.batches for t in self.tenants)

    def lines(self) -> list[str]:
        name = f"{self.title} (dry run)" if self.dry_run else self.title
        if self.skipped:
            return [f"{name}: skipped because {self.skipped}"]
        verb = "would remove" if self.dry_run else "removed"
        out = [
            f"{name}: {verb} {self.removed:,}, held back {self.held:,}, "
            f"{self.batches:,} batches, {len(self.tenants):,} tenants, "
            f"cutoff {self.cutoff.isoformat()} ({self.days:g} days), {self.duration_s:.2f} s"
        ]
        for t in self.tenants:
            if t.removed or t.held or t.resumed or not t.complete or t.cutoff != self.cutoff:
                notes = [f"{t.days:g} days"] if t.cutoff != self.cutoff else []
                notes += ["resumed"] if t.resumed else []
                notes += [] if t.complete else ["incomplete"]
                extra = f" ({', '.join(notes)})" if notes else ""
                out.append(
                    f"  {t.tenant}: {verb} {t.removed:,}, held back {t.held:,}, "
                    f"{t.batches:,} batches{extra}"
                )
        if self.interrupted:
            out.append(f"  interrupted: {self.interrupted}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "owner": self.owner,
            "dry_run": self.dry_run,
            "days": self.days,
            "cutoff": self.cutoff.isoformat(),
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "removed": self.removed,
            "held_back": self.held,
            "batches": self.batches,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "tenants": [t.as_dict() for t in self.tenants],
        }
