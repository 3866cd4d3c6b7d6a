"""`schedule list`: one row per configured job, computed from config, ledger and history (pure)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from scoot.instance.open import Instance
from scoot.records.runs import last_run_by_job, read_runs
from scoot.schedule.jitter import jitter_ms_for
from scoot.schedule.jobs import InvalidJob, Job, JobSet
from scoot.schedule.ledger import JobEntry, Ledger, decided_anchor
from scoot.schedule.pauses import Pause, PauseStore
from scoot.schedule.planner import plan
from scoot.schedule.triggers import describe, is_exhausted
from scoot.shared.clipping import ELLIPSIS, clip
from scoot.shared.spend.budget import SpendWindow, window_from_runs

GOAL_WIDTH = 48


@dataclass(frozen=True)
class JobRow:
    id: str
    index: int
    active: bool
    reason: str | None
    trigger: str | None
    mode_requested: str | None
    mode_effective: str | None
    mode_coerced: bool
    warning: str | None
    next_fire_unix: float | None
    next_fire_due_now: bool
    goal: str | None
    last_status: str | None
    last_ended_at: float | None
    paused: bool = False
    paused_reason: str | None = None
    paused_until: float | None = None
    jitter_sec: int = 0
    next_jitter_ms: int = 0  # the next fire starts this long after its instant
    backend: str | None = None
    tokens_24h: int | None = None  # this job's tokens in the last 24 hours
    max_tokens_per_day: int | None = None
    max_tokens_per_run: int | None = None
    retries: int = 0


def utc(ts: Any) -> str:
    """A Unix time as a UTC date; "?" for what no date can show (a hand-edited record)."""
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return "?"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return "?"


def row_for_job(
    job: Job,
    *,
    enabled: bool,
    now: float,
    entry: JobEntry | None,
    last_run: dict[str, Any] | None,
    pause: Pause | None = None,
    tokens_24h: int | None = None,
) -> JobRow:
    # What the scheduler will count as decided, so the view agrees with the next decision.
    last_instant = (
        decided_anchor(job, entry) if entry and entry.trigger == job.trigger.key else None
    )
    reason: str | None = None
    next_fire: float | None = None
    due_now = False
    if is_exhausted(job.trigger, last_instant):
        reason = "one-shot already fired"
    else:
        verdict = plan(
            job.trigger,
            now,
            last_instant,
            catch_up=job.catch_up,
            max_late_sec=job.max_late_sec,
        )
        if verdict.fire_instant is not None:
            next_fire, due_now = verdict.fire_instant, True
        else:
            next_fire = verdict.next_due
        if next_fire is None:
            reason = "one-shot already past its max_late_sec"
    if reason is None and not enabled:
        reason = "schedule disabled"
    active = reason is None
    paused = pause is not None and pause.active(now)
    next_jitter = 0
    if active and next_fire is not None:
        next_jitter = jitter_ms_for(job.id, job.trigger, next_fire, job.jitter_sec)
    return JobRow(
        id=job.id,
        index=job.index,
        active=active,
        reason=reason,
        trigger=describe(job.trigger),
        mode_requested=job.mode.requested,
        mode_effective=job.mode.effective,
        mode_coerced=job.mode.coerced,
        warning=job.mode.warning,
        next_fire_unix=next_fire if active else None,
        next_fire_due_now=due_now and active,
        goal=job.goal,
        last_status=(last_run or {}).get("status"),
        last_ended_at=(last_run or {}).get("ended_at"),
        paused=paused,
        paused_reason=pause.reason if paused and pause else None,
        paused_until=pause.until if paused and pause else None,
        jitter_sec=job.jitter_sec,
        next_jitter_ms=next_jitter,
        backend=job.backend,
        tokens_24h=tokens_24h,
        max_tokens_per_day=job.max_tokens_per_day,
        max_tokens_per_run=job.max_tokens_per_run,
        retries=job.retries,
    )


def row_for_invalid(bad: InvalidJob) -> JobRow:
    return JobRow(
        id=bad.id or f"#{bad.index}",
        index=bad.index,
        active=False,
        reason=f"invalid: {bad.reason}",
        trigger=None,
        mode_requested=None,
        mode_effective=None,
        mode_coerced=False,
        warning=None,
        next_fire_unix=None,
        next_fire_due_now=False,
        goal=None,
        last_status=None,
        last_ended_at=None,
    )


def build_rows(
    jobset: JobSet,
    *,
    enabled: bool,
    now: float,
    entries: dict[str, JobEntry],
    last_runs: dict[str, dict[str, Any]],
    pauses: dict[str, Pause] | None = None,
    spend: SpendWindow | None = None,
) -> list[JobRow]:
    rows = [
        row_for_job(
            job,
            enabled=enabled,
            now=now,
            entry=entries.get(job.id),
            last_run=last_runs.get(job.id),
            pause=(pauses or {}).get(job.id),
            tokens_24h=spend.job_tokens(job.id, now) if spend is not None else None,
        )
        for job in jobset.jobs
    ]
    rows.extend(row_for_invalid(bad) for bad in jobset.invalid)
    return sorted(rows, key=lambda row: row.index)


def printable(text: str) -> str:
    """Text as one terminal-safe line: control characters shown as escapes, not obeyed."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def shorten(text: str, width: int) -> str:
    flat = printable(" ".join(text.split()))
    return clip(flat, width, mark=ELLIPSIS, fit=True)


def render_text(rows: list[JobRow], header: dict[str, Any]) -> list[str]:
    state = "enabled" if header["enabled"] else "disabled"
    lines = [
        f"schedule: {state}   poll_ms: {header['poll_ms']}   jobs: {header['jobs']}   "
        f"config: {header['config_file']}"
    ]
    if not header["enabled"]:
        lines.append(
            "hint: scheduling is off; set [schedule] enabled = true in the config to run these jobs"
        )
    budget = header.get("budget") or {}
    if any(budget.values()):  # shown once a budget is set or anything was spent
        lines.append(f"budget: {spend_text(header['budget'])}")
    if not rows:
        lines.append("no jobs configured: add [[schedule.jobs]] entries to the config")
        return lines
    for row in rows:
        status = ("PAUSED" if row.paused else "ACTIVE") if row.active else "INACTIVE"
        head = f"{status:<8} {printable(row.id)}"
        if row.trigger:
            head += f"  {row.trigger}"
        if row.mode_effective:
            head += f"  mode={row.mode_effective}"
            if row.mode_coerced:
                head += f" (coerced from {row.mode_requested or 'default'})"
        lines.append(head)
        if row.reason:
            lines.append(f"         reason: {row.reason}")
        if row.paused:
            until = utc(row.paused_until) if row.paused_until is not None else "resumed by hand"
            why = printable(row.paused_reason) if row.paused_reason else "no reason given"
            lines.append(f"         paused: {why} (until {until}); instants are skipped")
        if row.next_fire_unix is not None:
            when = utc(row.next_fire_unix)
            jitter = f" +{row.next_jitter_ms / 1000:.3f}s jitter" if row.jitter_sec else ""
            lines.append(
                f"         next: {'now (due at ' + when + ')' if row.next_fire_due_now else when}"
                f"{jitter}"
            )
        if row.last_status:
            ended = f" at {utc(row.last_ended_at)}" if row.last_ended_at else ""
            lines.append(f"         last run: {row.last_status}{ended}")
        if row.goal:
            lines.append(f"         goal: {shorten(row.goal, GOAL_WIDTH)}")
        if row.mode_effective is not None and _spends(row):
            lines.append(f"         spend: {job_spend_text(row)}")
        if row.mode_effective == "unrestricted":
            lines.append(
                "         WARNING: unrestricted: this job may write and reach the network unattended"
            )
    return lines


def _spends(row: JobRow) -> bool:
    """Whether a job has anything to show about spend (else the line is left out)."""
    return bool(
        row.tokens_24h
        or row.max_tokens_per_day
        or row.max_tokens_per_run
        or row.retries
        or (row.backend and row.backend != "default")
    )


def job_spend_text(row: JobRow) -> str:
    """A job's tokens in the last 24 hours against its budgets, its backend and retries."""
    used = row.tokens_24h or 0
    day = f" of {row.max_tokens_per_day} (max_tokens_per_day)" if row.max_tokens_per_day else ""
    parts = [f"{used} tokens in 24 h{day}"]
    if row.max_tokens_per_run:
        parts.append(f"{row.max_tokens_per_run} per run")
    parts.append(f"backend {row.backend or 'default'}")
    if row.retries:
        parts.append(f"retries {row.retries}")
    return "; ".join(parts)


def spend_text(budget: dict[str, Any]) -> str:
    """All jobs' tokens and cost in the last 24 hours against [budget]."""
    tokens = f"{budget['tokens_24h']} tokens in 24 h"
    if budget.get("max_tokens_per_day"):
        tokens += f" of {budget['max_tokens_per_day']} (max_tokens_per_day)"
    cost = f"cost {budget['cost_24h']:.4f}"
    if budget.get("max_cost_per_day"):
        cost += f" of {budget['max_cost_per_day']:g} (max_cost_per_day)"
    return f"{tokens}; {cost}"


def render_json(rows: list[JobRow], header: dict[str, Any]) -> dict[str, Any]:
    jobs = []
    for row in rows:
        item = asdict(row)
        item["next_fire_utc"] = utc(row.next_fire_unix) if row.next_fire_unix is not None else None
        jobs.append(item)
    return {"schedule": header, "jobs": jobs}


def schedule_view(instance: Instance, now: float) -> tuple[list[JobRow], dict[str, Any], list[str]]:
    """Rows and header of `schedule list`, plus warnings; reads only, creates nothing."""
    home = instance.home
    warnings: list[str] = []
    entries: dict[str, JobEntry] = {}
    ledger = Ledger(home.ledger, home.ledger_lock)
    try:
        entries = ledger.peek()
    except OSError as exc:
        warnings.append(f"cannot read {home.ledger} ({exc.strerror}); next fires assume no history")
    if ledger.problem:
        warnings.append(ledger.problem)
    run_rows, _ = read_runs(home.runs)
    spend = window_from_runs(run_rows, now)
    pause_store = PauseStore(home.pauses, home.pauses_lock)
    pauses = pause_store.read()
    if pause_store.problem:
        warnings.append(pause_store.problem)
    schedule = instance.config.schedule
    rows = build_rows(
        instance.jobset,
        enabled=schedule.enabled,
        now=now,
        entries=entries,
        last_runs=last_run_by_job(run_rows),
        pauses=pauses,
        spend=spend,
    )
    budget = instance.config.budget
    header = {
        "enabled": schedule.enabled,
        "poll_ms": schedule.poll_ms,
        "jobs": len(rows),
        "config_file": instance.config_label,
        "budget": {
            "tokens_24h": spend.total_tokens(now),
            "cost_24h": round(spend.total_cost(now), 6),
            "max_tokens_per_day": budget.max_tokens_per_day or None,
            "max_cost_per_day": budget.max_cost_per_day or None,
        },
    }
    return rows, header, warnings
