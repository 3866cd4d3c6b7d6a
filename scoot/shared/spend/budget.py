"""Token and cost budgets over rolling 24-hour windows, per job and for all jobs (pure).

Stdlib only: the worker imports `stop_reason` to stop before a model request.
The parent builds a `SpendWindow` from runs.jsonl at start and adds each
usage report as it arrives, so a budget spent by a running job counts at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from scoot.shared.value_class import value_class

DAY_SEC = 24 * 3600


def cost_of(tokens_in: int, tokens_out: int, price_in: float, price_out: float) -> float:
    """The cost of some tokens at prices per million tokens."""
    return (tokens_in * price_in + tokens_out * price_out) / 1_000_000


@value_class
class Spent:
    at: float
    job_id: str | None
    tokens: int
    cost: float


class SpendWindow:
    """What was spent in the last 24 hours, by job and in all.

    Running sums, updated as entries arrive and as they leave the window, so
    a decision at a busy minute boundary costs the same however much was spent.
    """

    def __init__(self, entries: Iterable[Spent] = ()) -> None:
        self._entries: deque[Spent] = deque()
        self._tokens = 0
        self._cost = 0.0
        self._by_job: dict[str | None, int] = {}
        self._fill(entries)

    def _fill(self, entries: Iterable[Spent]) -> None:
        self._entries.clear()
        self._tokens, self._cost, self._by_job = 0, 0.0, {}
        for entry in sorted(entries, key=lambda e: e.at):
            self._push(entry)

    def _push(self, entry: Spent) -> None:
        self._entries.append(entry)
        self._tokens += entry.tokens
        self._cost += entry.cost
        self._by_job[entry.job_id] = self._by_job.get(entry.job_id, 0) + entry.tokens

    def add(self, at: float, job_id: str | None, tokens: int, cost: float) -> None:
        if tokens <= 0 and cost <= 0:
            return
        entry = Spent(at, job_id, tokens, cost)
        if self._entries and at < self._entries[-1].at:
            # Rare (a clock step): rebuild, keeping the order the pruning relies on.
            self._fill([*self._entries, entry])
        else:
            self._push(entry)

    def _prune(self, now: float) -> None:
        while self._entries and self._entries[0].at <= now - DAY_SEC:
            gone = self._entries.popleft()
            self._tokens -= gone.tokens
            self._cost -= gone.cost
            left = self._by_job.get(gone.job_id, 0) - gone.tokens
            if left > 0:
                self._by_job[gone.job_id] = left
            else:
                self._by_job.pop(gone.job_id, None)
        if not self._entries:
            self._cost = 0.0  # no float residue once empty

    def job_tokens(self, job_id: str, now: float) -> int:
        self._prune(now)
        return self._by_job.get(job_id, 0)

    def total_tokens(self, now: float) -> int:
        self._prune(now)
        return self._tokens

    def total_cost(self, now: float) -> float:
        self._prune(now)
        return max(0.0, self._cost)


def window_from_runs(rows: Iterable[dict[str, Any]], now: float) -> SpendWindow:
    """The spend of the run records that ended in the last 24 hours."""
    entries = []
    for row in rows:
        ended = row.get("ended_at")
        tokens = row.get("tokens")
        if not isinstance(ended, int | float) or not isinstance(tokens, dict):
            continue
        if ended <= now - DAY_SEC or ended > now + DAY_SEC:
            continue
        total = sum(_number(tokens.get(key)) or 0 for key in ("input", "output"))
        cost = _number(row.get("cost")) or 0.0
        job_id = row.get("job_id") if isinstance(row.get("job_id"), str) else None
        entries.append(Spent(float(ended), job_id, int(total), cost))
    return SpendWindow(entries)


def _number(value: Any) -> float | None:
    """A finite number >= 0, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < float("inf") else None


@value_class
class Limits:
    """Every budget that binds one job; None is no limit."""

    run_tokens: int | None = None
    job_day_tokens: int | None = None
    day_tokens: int | None = None
    day_cost: float | None = None


@value_class
class Allowance:
    """What one run may still spend, sent to its worker; None is no limit."""

    max_tokens: int | None
    max_cost: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "max_cost": self.max_cost}


def spent_reason(limits: Limits, window: SpendWindow, job_id: str, now: float) -> str | None:
    """Why a job may not start now (a day budget is spent), or None."""
    if limits.job_day_tokens is not None:
        used = window.job_tokens(job_id, now)
        if used >= limits.job_day_tokens:
            return (
                f"job day budget spent ({used} of max_tokens_per_day={limits.job_day_tokens} "
                "tokens in the last 24 h)"
            )
    if limits.day_tokens is not None:
        used = window.total_tokens(now)
        if used >= limits.day_tokens:
            return (
                f"global day budget spent ({used} of [budget] max_tokens_per_day="
                f"{limits.day_tokens} tokens in the last 24 h)"
            )
    if limits.day_cost is not None:
        spent = window.total_cost(now)
        if spent >= limits.day_cost:
            return (
                f"global day budget spent (cost {spent:.4f} of [budget] max_cost_per_day="
                f"{limits.day_cost:g} in the last 24 h)"
            )
    return None


def allowance_for(limits: Limits, window: SpendWindow, job_id: str | None, now: float) -> Allowance:
    """The tightest of the run budget and what remains of each day budget."""
    caps: list[int] = []
    if limits.run_tokens is not None:
        caps.append(limits.run_tokens)
    if limits.job_day_tokens is not None and job_id is not None:
        caps.append(max(0, limits.job_day_tokens - window.job_tokens(job_id, now)))
    if limits.day_tokens is not None:
        caps.append(max(0, limits.day_tokens - window.total_tokens(now)))
    cost = None
    if limits.day_cost is not None:
        cost = max(0.0, limits.day_cost - window.total_cost(now))
    return Allowance(min(caps) if caps else None, cost)


def stop_reason(tokens: int, cost: float, allowance: dict[str, Any]) -> str | None:
    """Why a run must not send its next model request (its allowance is used), or None."""
    max_tokens = _number(allowance.get("max_tokens"))
    if max_tokens is not None and tokens >= max_tokens:
        return f"token budget reached ({tokens} of {int(max_tokens)} tokens this run may use)"
    max_cost = _number(allowance.get("max_cost"))
    if max_cost is not None and cost >= max_cost:
        return f"cost budget reached (cost {cost:.4f} of {max_cost:.4f} this run may spend)"
    return None


def limits_of(job: Any, budget: Any) -> Limits:
    """The budgets of a job (None: a run outside any job) under `[budget]`; 0 is no limit."""
    return Limits(
        run_tokens=getattr(job, "max_tokens_per_run", None) or None,
        job_day_tokens=getattr(job, "max_tokens_per_day", None) or None,
        day_tokens=getattr(budget, "max_tokens_per_day", 0) or None,
        day_cost=getattr(budget, "max_cost_per_day", 0.0) or None,
    )
