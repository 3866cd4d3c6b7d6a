"""`schedule history --timeline`: one line per job, one cell per run (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scoot.records.run_facts import run_time
from scoot.shared.terminal import shorten, utc
from scoot.shared.value_class import value_class

DAY_SEC = 86400.0


@value_class
class StatusStyle:
    symbol: str  # what a plain (non-terminal) output shows
    ansi: str  # SGR colour code for a terminal
    colour: str  # CSS colour of the HTML report


STYLES: dict[str, StatusStyle] = {
    "ok": StatusStyle("+", "32", "#2e9e44"),
    "error": StatusStyle("x", "31", "#d1343b"),
    "crashed": StatusStyle("!", "35", "#9b2fae"),
    "timeout": StatusStyle("t", "33", "#e08a00"),
    "interrupted": StatusStyle("-", "90", "#8a8f98"),
}
OTHER = StatusStyle("?", "36", "#2a8bb8")


def style_of(status: Any) -> StatusStyle:
    return STYLES.get(str(status), OTHER)


def runs_by_job(
    rows: Iterable[dict[str, Any]], *, now: float, days: float
) -> dict[str, list[dict[str, Any]]]:
    """The runs of the last `days` days per job (ad-hoc runs under "-e"), oldest first."""
    since = now - days * DAY_SEC
    picked: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        when = run_time(row)
        if when is None or when < since or when > now + DAY_SEC:
            continue
        job = row.get("job_id")
        key = job if isinstance(job, str) else "-e"
        picked.setdefault(key, []).append(row)
    for runs in picked.values():
        runs.sort(key=lambda r: run_time(r) or 0.0)
    return dict(sorted(picked.items()))


def render_timeline(
    rows: Iterable[dict[str, Any]],
    *,
    now: float,
    days: float,
    colour: bool,
    width: int = 100,
    job_ids: Iterable[str] = (),
) -> list[str]:
    """The timeline lines; `job_ids` (configured jobs) get a line even without runs."""
    grouped = runs_by_job(rows, now=now, days=days)
    for job in job_ids:
        grouped.setdefault(job, [])
    grouped = dict(sorted(grouped.items()))
    seen = sorted({str(r.get("status")) for runs in grouped.values() for r in runs})
    legend = "  ".join(f"{_cell(s, colour)} {s}" for s in seen) or "no runs"
    lines = [f"runs of the last {days:g} day(s), since {utc(now - days * DAY_SEC)}:  {legend}"]
    if not grouped:
        return [*lines, "no jobs and no runs recorded in that time"]
    name_width = min(20, max(len(job) for job in grouped))
    cells_width = max(10, width - name_width - 16)
    for job, runs in grouped.items():
        ok = sum(1 for r in runs if r.get("status") == "ok")
        shown = runs[-cells_width:]
        earlier = len(runs) - len(shown)
        cells = "".join(_cell(str(r.get("status")), colour) for r in shown)
        lead = f"+{earlier} " if earlier else ""
        lines.append(
            f"{shorten(job, name_width):<{name_width}} |{lead}{cells}{' ' if runs else ''}"
            f"| {ok}/{len(runs)} ok"
        )
    return lines


def _cell(status: str, colour: bool) -> str:
    style = style_of(status)
    return f"\x1b[{style.ansi}m{style.symbol}\x1b[0m" if colour else style.symbol
