"""Fault injection: make commits fail the way FoundationDB's do, to prove idempotency.

1020 (not_committed) is raised *before* a commit is applied: nothing lands, `transact` retries.
1021 (commit_unknown_result) is raised *after* the commit was applied: the data is durable, yet
the caller sees 1021 and `transact` runs `fn` again. A write path that passes under 1021 is one
that checks its unique marker before writing.

Each injected fault is logged (WARNING, fields `fault` and `commit_attempt`): a process started
with STORE_FAULTS shows that its faults fired, and fault injection left on by mistake is loud.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterable

from workers.store.error_codes import COMMIT_UNKNOWN_RESULT, NOT_COMMITTED

log = logging.getLogger(__name__)

_CODES = (NOT_COMMITTED, COMMIT_UNKNOWN_RESULT)


class FaultInjector:
    """Decides, per commit attempt, whether to inject 1020, 1021 or nothing.

    Commit attempts are numbered from 1 (``ordinal``). A rate draws from a seeded
    ``random.Random``; a schedule picks every Nth commit and/or explicit ordinals.
    A schedule hit wins over a rate; 1020 wins over 1021 on the same commit.

    String form (``FaultInjector.parse``), comma-separated items, for env vars and CLIs::

        1020:0.05          inject 1020 on 5 % of commits (random)
        1021:every:10      inject 1021 on commits 10, 20, 30, ...
        1021:at:3/7/8      inject 1021 on commits 3, 7 and 8
        seed:7             seed for the random rates (default 0)

    e.g. ``"1020:0.05,1021:0.05,seed:7"``. An empty string or ``"off"`` injects nothing.
    Thread-safe: one injector may be shared by several stores.
    """

    def __init__(
        self,
        *,
        rate_1020: float = 0.0,
        rate_1021: float = 0.0,
        seed: int = 0,
        every_nth_1020: int = 0,
        every_nth_1021: int = 0,
        at_1020: Iterable[int] = (),
        at_1021: Iterable[int] = (),
    ) -> None:
        for name, rate in (("rate_1020", rate_1020), ("rate_1021", rate_1021)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {rate}")
        for name, nth in (("every_nth_1020", every_nth_1020), ("every_nth_1021", every_nth_1021)):
            if nth < 0:
                raise ValueError(f"{name} must be >= 0 (0 = off), got {nth}")
        self.rate = {NOT_COMMITTED: rate_1020, COMMIT_UNKNOWN_RESULT: rate_1021}
        self.every = {NOT_COMMITTED: every_nth_1020, COMMIT_UNKNOWN_RESULT: every_nth_1021}
        self.at = {NOT_COMMITTED: frozenset(at_1020), COMMIT_UNKNOWN_RESULT: frozenset(at_1021)}
        self.seed = seed
        self.ordinal = 0
        self.injected_1020 = 0
        self.injected_1021 = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str) -> FaultInjector:
        """Build an injector from its string form (see the class docstring)."""
        rate: dict[int, float] = {}
        every: dict[int, int] = {}
        at: dict[int, set[int]] = {NOT_COMMITTED: set(), COMMIT_UNKNOWN_RESULT: set()}
        seed = 0
        text = spec.strip()
        if text in ("", "off", "none"):
            return cls()
        for item in text.split(","):
            parts = [p.strip() for p in item.strip().split(":")]
            try:
                if parts[0] == "seed" and len(parts) == 2:
                    seed = int(parts[1])
                    continue
                code = int(parts[0])
                if code not in _CODES:
                    raise ValueError(f"code must be 1020 or 1021, got {code}")
                if len(parts) == 2:
                    rate[code] = float(parts[1])
                elif len(parts) == 3 and parts[1] == "every":
                    every[code] = int(parts[2])
                elif len(parts) == 3 and parts[1] == "at":
                    at[code].update(int(n) for n in parts[2].split("/") if n)
                else:
                    raise ValueError("expected CODE:RATE, CODE:every:N, CODE:at:A/B/C or seed:N")
            except ValueError as e:
                raise ValueError(f"bad fault spec item {item!r} in {spec!r}: {e}") from None
        try:
            return cls(
                rate_1020=rate.get(NOT_COMMITTED, 0.0),
                rate_1021=rate.get(COMMIT_UNKNOWN_RESULT, 0.0),
                seed=seed,
                every_nth_1020=every.get(NOT_COMMITTED, 0),
                every_nth_1021=every.get(COMMIT_UNKNOWN_RESULT, 0),
                at_1020=at[NOT_COMMITTED],
                at_1021=at[COMMIT_UNKNOWN_RESULT],
            )
        except ValueError as e:
            raise ValueError(f"bad fault spec {spec!r}: {e}") from None

    def next_commit(self) -> int | None:
        """Called once per commit attempt: the code to inject on it (1020, 1021) or None."""
        with self._lock:
            self.ordinal += 1
            n = self.ordinal
            chosen: int | None = None
            for code in _CODES:
                nth = self.every[code]
                if n in self.at[code] or (nth and n % nth == 0):
                    chosen = code
                    break
            if chosen is None and (self.rate[NOT_COMMITTED] or self.rate[COMMIT_UNKNOWN_RESULT]):
                draw = self._random.random()
                if draw < self.rate[NOT_COMMITTED]:
                    chosen = NOT_COMMITTED
                elif draw < self.rate[NOT_COMMITTED] + self.rate[COMMIT_UNKNOWN_RESULT]:
                    chosen = COMMIT_UNKNOWN_RESULT
            if chosen == NOT_COMMITTED:
                self.injected_1020 += 1
            elif chosen == COMMIT_UNKNOWN_RESULT:
                self.injected_1021 += 1
        if chosen is not None:
            log.warning(
                "fault injected: %d on commit attempt %d",
                chosen,
                n,
                extra={"fault": chosen, "commit_attempt": n},
            )
        return chosen

    def __repr__(self) -> str:
        return (
            f"FaultInjector(rate={self.rate}, every={self.every}, seed={self.seed}, "
            f"injected_1020={self.injected_1020}, injected_1021={self.injected_1021})"
        )
