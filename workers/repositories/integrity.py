"""The consistency check: every index entry has its record, every record all its entries.

It walks in pages, one short transaction each, so it runs on a store of any size within
FoundationDB's 5 s limit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from workers.repositories import Repositories
from workers.repositories.base import Index, Spec
from workers.store.keys import TenantKeys, prefix_range
from workers.store.port import Store, Transaction

PAGE = 200


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: UUID = Field(serialization_alias="tenant")
    model: str
    kind: str  # "missing index entry" | "index entry without record" | "stale index entry"
    key: tuple[Any, ...]

    @field_serializer("key")
    def _key(self, key: tuple[Any, ...]) -> list[str]:
        return [str(part) for part in key]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.model}: {self.kind} {self.key}"


class CheckReport(BaseModel):
    """What `check` found; `check --json` prints it (`model_dump_json(by_alias=True)`)."""

    tenants: int = 0
    records: int = 0
    index_entries: int = 0
    problems: list[Problem] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def clean(self) -> bool:
        return not self.problems


async def check(
    store: Store,
    repos: Repositories,
    tenant_id: UUID | None = None,
    progress: Callable[[CheckReport], None] | None = None,
) -> CheckReport:
    report = CheckReport()
    tenants = [tenant_id] if tenant_id else await repos.tenants.all(store)
    for t in tenants:
        report.tenants += 1
        tk = repos.keys.tenant(t)
        for spec in repos.specs():
            records = prefix_range(spec.records(tk).raw)
            await _walk(store, records, partial(_records, tk=tk, spec=spec, report=report))
            for index in spec.indexes:
                rng = prefix_range(index.prefix(tk).raw)
                visit = partial(_entries, tk=tk, spec=spec, index=index, report=report)
                await _walk(store, rng, visit)
            if progress:
                progress(report)
    return report


Visit = Callable[[Transaction, list[tuple[bytes, bytes]]], None]


async def _walk(store: Store, rng: tuple[bytes, bytes], visit: Visit) -> None:
    begin, end = rng
    while True:

        def page(tr: Transaction, b: bytes = begin) -> bytes | None:
            rows = tr.get_range(b, end, limit=PAGE)
            visit(tr, rows)
            return rows[-1][0] + b"\x00" if len(rows) == PAGE else None

        nxt = await store.read(page)
        if nxt is None:
            return
        begin = nxt


def _records(
    tr: Transaction,
    rows: list[tuple[bytes, bytes]],
    *,
    tk: TenantKeys,
    spec: Spec[Any],
    report: CheckReport,
) -> None:
    prefix = spec.records(tk)
    for key, _ in rows:
        ident = spec.record_id(prefix.tail(key))
        if ident is None:
            continue
        report.records += 1
        record = spec.load(tr, tk, ident)
        if record is None:
            continue
        expected = spec.entries(tk, record)
        for k, found in zip(expected, tr.get_many(list(expected)), strict=True):
            if found != expected[k]:  # absent, or pointing at another record (a path taken over)
                report.problems.append(_problem(tk, spec.name, "missing index entry", k))


def _entries(
    tr: Transaction,
    rows: list[tuple[bytes, bytes]],
    *,
    tk: TenantKeys,
    spec: Spec[Any],
    index: Index,
    report: CheckReport,
) -> None:
    prefix = index.prefix(tk)
    for key, value in rows:
        report.index_entries += 1
        record = spec.load(tr, tk, index.record_id(prefix.tail(key), value))
        if record is None:
            report.problems.append(_problem(tk, index.name, "index entry without record", key))
        elif key not in spec.entries(tk, record):
            report.problems.append(_problem(tk, index.name, "stale index entry", key))


def _problem(tk: TenantKeys, model: str, kind: str, key: bytes) -> Problem:
    return Problem(tenant_id=tk.tenant_id, model=model, kind=kind, key=tk.all.tail(key))
