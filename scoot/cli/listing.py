"""`schedule list`: the rows of scoot.schedule.job_rows from config, ledger and history, as text or JSON."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from scoot.instance.open import Instance
from scoot.records.runs import last_run_by_job, read_runs
from scoot.schedule.job_rows import JobRow, build_rows
from scoot.schedule.ledger import JobEntry, Ledger
from scoot.schedule.pauses import PauseStore
from scoot.shared.spend.budget import window_from_runs
from scoot.shared.terminal import printable_line, shorten, utc

GOAL_WIDTH = 48
ROW_FIELDS = tuple(field.name for field in fields(JobRow))


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
        head = f"{status:<8} {printable_line(row.id)}"
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
            why = printable_line(row.paused_reason) if row.paused_reason else "no reason given"
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
        # Every field is a plain value, so a shallow copy is the whole row; asdict's
        # deep copy cost 15 times as much over ten thousand jobs.
        item = {name: getattr(row, name) for name in ROW_FIELDS}
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
