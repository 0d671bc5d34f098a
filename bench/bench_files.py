"""`make bench`, file.changed part (run by bench/bench_e2e.py, in the same run).

`burst`: the bodies of a file-monitor burst in one workspace session: a `created` for each of
N distinct paths, then a `modified` for M of those paths, each with the content's size and
SHA-256 and a strictly increasing `occurred_at`. bench_e2e.py publishes them to JetStream and
drains them with a real worker exactly as it does message.sent, and compares the two rates.

`late_event_costs`: the time to apply ONE late event in a session of 10,000 files and in a
session of 100 files, straight through the `Ingestor` over SQLite (no NATS): a `modified`
older than its path's newest event (created t, modified t+2 s, late modified t+1 s), and a
`renamed` older than its destination's newest event (source created t-10 s, destination
created t and modified t+2 s, rename at t+1.5 s). An in-order `modified` of the same paths
is timed too, as the reference. Both sessions live in one store and the measurements of the
two sizes are interleaved, so drift on a busy machine hits both alike.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from events.subjects import FILE_CHANGED  # noqa: E402
from workers.ingest.ingestor import Ingestor  # noqa: E402
from workers.ingest.outcomes import Incoming, Outcome  # noqa: E402
from workers.repositories import Repositories  # noqa: E402
from workers.store.sqlite import SqliteStore  # noqa: E402

KINDS = ("late modified", "late renamed", "on-time modified")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def path_of(i: int) -> str:
    return f"src/pkg{i // 100:03d}/module_{i:05d}.py"


def content_of(path: str, version: int) -> bytes:
    """A source file of a few hundred bytes to a few KB; each version's content differs."""
    line = f"# {path} version {version}\n".encode()
    return line * (8 + (zlib.crc32(path.encode()) + 37 * version) % 120)


@dataclass(frozen=True)
class Session:
    """One tenant, user and workspace session of the file monitor."""

    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))
    user: str = field(default_factory=lambda: str(uuid.uuid4()))
    session: str = field(default_factory=lambda: str(uuid.uuid4()))

    def event(
        self,
        change: str,
        path: str,
        at: datetime,
        version: int = 0,
        previous_path: str | None = None,
    ) -> bytes:
        """The body the file monitor publishes on `file.changed`."""
        body: dict[str, object] = {
            "event_id": str(uuid.uuid4()),
            "tenant_id": self.tenant,
            "user_id": self.user,
            "occurred_at": iso(at),
            "workspace_session_id": self.session,
            "source": "file-monitor",
            "change": change,
            "file_path": path,
        }
        if previous_path is not None:
            body["previous_path"] = previous_path
        if change in ("created", "modified"):
            content = content_of(path, version)
            body |= {
                "file_size": len(content),
                "mime_type": "text/x-python",
                "checksum": hashlib.sha256(content).hexdigest(),
            }
        return json.dumps(body).encode()


def burst(creates: int, modifies: int) -> list[bytes]:
    """`creates` created events of distinct paths, then `modifies` modified events of those
    paths (spread over them; a path is modified again only if modifies > creates)."""
    s = Session()
    start = datetime.now(UTC) - timedelta(hours=1)
    bodies = [
        s.event("created", path_of(i), start + timedelta(milliseconds=i)) for i in range(creates)
    ]
    for j in range(modifies):
        i = (j * creates // modifies) if modifies <= creates else j % creates
        at = start + timedelta(milliseconds=creates + j)
        bodies.append(s.event("modified", path_of(i), at, version=1 + j // creates))
    return bodies


@dataclass
class LateCosts:
    """Seconds per event, by kind of event and session size."""

    repeats: int
    samples: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # of the timed events

    def quantiles_ms(self, kind: str, size: int) -> tuple[float, float]:
        """(median, p90) in milliseconds."""
        values = sorted(self.samples[(kind, size)])
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        return statistics.median(values) * 1000, p90 * 1000


class _Layout:
    """A session of `size` files: path 2k is a rename source (created at t_k - 10 s), path
    2k+1 a destination (created at t_k, modified at t_k + 2 s). `picked` are the pairs timed,
    spread over the session."""

    def __init__(self, size: int, repeats: int, start: datetime) -> None:
        self.session = Session()
        self.size = size
        self.start = start
        pairs = size // 2
        self.picked = [k * pairs // repeats for k in range(repeats)]

    def t(self, k: int) -> datetime:
        return self.start + timedelta(seconds=20 * k + 10)

    def history(self) -> list[bytes]:
        s, t = self.session, self.t
        bodies = []
        for k in range(self.size // 2):
            bodies.append(s.event("created", path_of(2 * k), t(k) - timedelta(seconds=10)))
            bodies.append(s.event("created", path_of(2 * k + 1), t(k)))
        if self.size % 2:
            bodies.append(s.event("created", path_of(self.size - 1), t(self.size // 2)))
        for k in range(self.size // 2):
            at = t(k) + timedelta(seconds=2)
            bodies.append(s.event("modified", path_of(2 * k + 1), at, version=1))
        return bodies

    def late(self, kind: str, k: int) -> bytes:
        s, t = self.session, self.t(k)
        source, destination = path_of(2 * k), path_of(2 * k + 1)
        if kind == "late modified":
            return s.event("modified", destination, t + timedelta(seconds=1), version=2)
        if kind == "late renamed":
            at = t + timedelta(milliseconds=1500)
            return s.event("renamed", destination, at, previous_path=source)
        return s.event("modified", destination, t + timedelta(seconds=3), version=3)


async def late_event_costs(work: Path, sizes: Sequence[int], repeats: int, batch: int) -> LateCosts:
    """Build one session per size in one fresh store, then time ONE event per transaction."""
    repeats = max(1, min(repeats, min(sizes) // 2))
    costs = LateCosts(repeats)
    store = SqliteStore(work / "late.db")
    try:
        ingestor = Ingestor(store, Repositories())
        start = datetime.now(UTC) - timedelta(days=1)
        layouts = [_Layout(size, repeats, start) for size in sizes]
        for layout in layouts:
            history = layout.history()
            for i in range(0, len(history), batch):
                part = [Incoming(FILE_CHANGED, b) for b in history[i : i + batch]]
                built = Counter(r.outcome for r in await ingestor.apply(part))
                if set(built) != {Outcome.APPLIED}:
                    print(f"  (building the {layout.size}-file session: {dict(built)})")
        # "late renamed" after "late modified": a rename's destination holds the late modified
        for kind in KINDS:
            for n in range(repeats):
                for layout in layouts:  # the sizes interleaved
                    item = Incoming(FILE_CHANGED, layout.late(kind, layout.picked[n]))
                    t0 = time.perf_counter()
                    [result] = await ingestor.apply([item])
                    seconds = time.perf_counter() - t0
                    costs.samples.setdefault((kind, layout.size), []).append(seconds)
                    costs.outcomes[result.outcome.value] += 1
    finally:
        await store.close()
    return costs
