"""`scoot report --html`: one self-contained page of what ran (pure: records in, HTML out).

Inline CSS and SVG only: no scripts, no fonts or images from the network, so
the page opens anywhere, from a mail attachment to an air-gapped host.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from scoot import __version__
from scoot.cli.timeline import DAY_SEC, runs_by_job, style_of
from scoot.records.run_facts import lateness_of, ran, run_time

CHART_W = 960
TIMELINE_H = 28
CHART_H = 180
PAD_L = 56  # room for the y axis labels
PAD_R = 12

CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1d2330; background: #fff; max-width: 1000px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde1e8; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
.meta { color: #5b6473; margin: 0 0 16px; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; text-align: right; border-bottom: 1px solid #eceff3; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f6f9; font-weight: 600; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
          margin-right: 4px; vertical-align: -1px; }
svg { display: block; background: #fafbfc; border: 1px solid #e3e6eb; border-radius: 3px; }
svg text { font: 11px system-ui, sans-serif; fill: #5b6473; }
.job { margin-bottom: 10px; }
.job .line { display: flex; gap: 16px; align-items: baseline; }
.job .counts { color: #5b6473; }
.empty { color: #8a8f98; font-style: italic; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _date(ts: float, with_time: bool = True) -> str:
    return time.strftime("%Y-%m-%d %H:%M" if with_time else "%m-%d", time.gmtime(ts))


class _Axis:
    """Maps the report window onto the chart's x pixels."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.span = max(end - start, 1.0)

    def x(self, ts: float) -> float:
        inner = CHART_W - PAD_L - PAD_R
        return PAD_L + max(0.0, min(1.0, (ts - self.start) / self.span)) * inner

    def ticks(self) -> list[tuple[float, str]]:
        days = self.span / DAY_SEC
        step = DAY_SEC if days > 2 else 3600.0 * (6 if days > 1 else 2 if days > 0.25 else 1)
        first = (self.start // step + 1) * step
        labels: list[tuple[float, str]] = []
        t = first
        while t < self.start + self.span and len(labels) < 40:
            text = (
                _date(t, with_time=False)
                if step >= DAY_SEC
                else time.strftime("%H:%M", time.gmtime(t))
            )
            labels.append((t, text))
            t += step
        return labels


def _timeline_svg(job: str, runs: list[dict[str, Any]], axis: _Axis) -> str:
    parts = [
        f'<svg class="timeline" data-job="{_esc(job)}" width="{CHART_W}" height="{TIMELINE_H}" '
        f'viewBox="0 0 {CHART_W} {TIMELINE_H}" role="img" aria-label="runs of {_esc(job)}">'
    ]
    for t, _label in axis.ticks():
        parts.append(
            f'<line x1="{axis.x(t):.1f}" y1="0" x2="{axis.x(t):.1f}" y2="{TIMELINE_H}" '
            'stroke="#e3e6eb"/>'
        )
    for row in runs:
        start = run_time(row) or axis.start
        duration = (row.get("duration_ms") or 0) / 1000 if ran(row) else 0
        x0 = axis.x(start)
        width = max(3.0, axis.x(start + duration) - x0)
        status = str(row.get("status"))
        title = f"{row.get('run_id')} {status} at {_date(start)} UTC, {duration:.1f} s"
        if row.get("error"):
            title += f": {row.get('error')}"
        parts.append(
            f'<rect class="run run-{_esc(status)}" x="{x0:.1f}" y="5" width="{width:.1f}" '
            f'height="{TIMELINE_H - 10}" rx="1.5" fill="{style_of(status).colour}">'
            f"<title>{_esc(title)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _scatter_svg(
    svg_id: str, label: str, points: list[tuple[float, float, str]], axis: _Axis
) -> str:
    """Points (time, seconds, status) on a shared time axis, y from 0 to the largest value."""
    top = max((p[1] for p in points), default=0.0)
    top = top * 1.1 if top > 0 else 1.0
    inner_h = CHART_H - 30

    def y(value: float) -> float:
        return 8 + inner_h * (1 - value / top)

    parts = [
        f'<svg id="{svg_id}" class="chart" width="{CHART_W}" height="{CHART_H}" '
        f'viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="{_esc(label)}">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = top * fraction
        parts.append(
            f'<line x1="{PAD_L}" y1="{y(value):.1f}" x2="{CHART_W - PAD_R}" y2="{y(value):.1f}" '
            'stroke="#e3e6eb"/>'
            f'<text x="{PAD_L - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{_seconds(value)}</text>'
        )
    for t, text in axis.ticks():
        parts.append(
            f'<text x="{axis.x(t):.1f}" y="{CHART_H - 6}" text-anchor="middle">{_esc(text)}</text>'
        )
    for ts, value, status in points:
        parts.append(
            f'<circle class="point" cx="{axis.x(ts):.1f}" cy="{y(value):.1f}" r="3" '
            f'fill="{style_of(status).colour}"><title>{_esc(_date(ts))} UTC: '
            f"{_esc(_seconds(value))} ({_esc(status)})</title></circle>"
        )
    if not points:
        parts.append(
            f'<text x="{CHART_W / 2:.0f}" y="{CHART_H / 2:.0f}" text-anchor="middle">'
            "no runs in this window</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quantile(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return _seconds(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.1f} min"
    if value >= 1 or value == 0:
        return f"{value:.1f} s"
    return f"{value * 1000:.0f} ms"


def render_report(
    rows: Iterable[dict[str, Any]],
    *,
    now: float,
    days: float,
    job_ids: Iterable[str] = (),
    home: str = "",
) -> str:
    """The whole page."""
    grouped = runs_by_job(rows, now=now, days=days)
    for job in job_ids:
        grouped.setdefault(job, [])
    grouped = dict(sorted(grouped.items()))
    start = now - days * DAY_SEC
    axis = _Axis(start, now)
    statuses = sorted({str(r.get("status")) for runs in grouped.values() for r in runs})

    out = _page_head(grouped, statuses, start=start, now=now, days=days, home=home)
    out += _status_counts(grouped, statuses)
    out += _timelines(grouped, axis)
    out += _charts(grouped, axis, start)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _page_head(
    grouped: dict[str, list[dict[str, Any]]],
    statuses: list[str],
    *,
    start: float,
    now: float,
    days: float,
    home: str,
) -> list[str]:
    total_runs = sum(len(runs) for runs in grouped.values())
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>scoot report: last {days:g} day(s)</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>scoot: what ran</h1>",
        f'<p class="meta">{_esc(home)} &middot; {total_runs} run(s) from {_esc(_date(start))} '
        f"to {_esc(_date(now))} UTC &middot; scoot {_esc(__version__)}</p>",
    ]
    out.append('<p class="legend">')
    for status in statuses or ["ok"]:
        out.append(
            f'<span><i class="swatch" style="background:{style_of(status).colour}"></i>'
            f"{_esc(status)}</span>"
        )
    out.append("</p>")
    return out


def _status_counts(grouped: dict[str, list[dict[str, Any]]], statuses: list[str]) -> list[str]:
    total_runs = sum(len(runs) for runs in grouped.values())
    out: list[str] = []
    out.append("<h2>Status counts</h2>")
    out.append('<table id="status-counts"><thead><tr><th>job</th>')
    out += [f"<th>{_esc(s)}</th>" for s in statuses]
    out.append("<th>total</th><th>median duration</th><th>p95 lateness</th></tr></thead><tbody>")
    totals: Counter[str] = Counter()
    for job, runs in grouped.items():
        counts = Counter(str(r.get("status")) for r in runs)
        totals.update(counts)
        out.append(f'<tr data-job="{_esc(job)}"><td>{_esc(job)}</td>')
        out += [f"<td>{counts.get(s, 0)}</td>" for s in statuses]
        took = [
            r["duration_ms"] / 1000 for r in runs if ran(r) and _is_number(r.get("duration_ms"))
        ]
        late = [v for r in runs if ran(r) and (v := lateness_of(r)) is not None]
        out.append(
            f"<td>{len(runs)}</td><td>{_quantile(took, 0.5)}</td><td>{_quantile(late, 0.95)}</td></tr>"
        )
    out.append("<tr><th>all</th>")
    out += [f"<th>{totals.get(s, 0)}</th>" for s in statuses]
    out.append(f"<th>{total_runs}</th><th></th><th></th></tr></tbody></table>")
    return out


def _timelines(grouped: dict[str, list[dict[str, Any]]], axis: _Axis) -> list[str]:
    out: list[str] = []
    out.append("<h2>Timelines</h2>")
    if not grouped:
        out.append('<p class="empty">no jobs configured and no runs recorded</p>')
    for job, runs in grouped.items():
        ok = sum(1 for r in runs if r.get("status") == "ok")
        out.append(
            f'<section class="job" data-job="{_esc(job)}"><div class="line"><h3>{_esc(job)}</h3>'
            f'<span class="counts">{ok}/{len(runs)} ok</span></div>'
            f"{_timeline_svg(job, runs, axis)}</section>"
        )
    return out


def _charts(grouped: dict[str, list[dict[str, Any]]], axis: _Axis, start: float) -> list[str]:
    out: list[str] = []
    durations = [
        (run_time(r) or start, (r.get("duration_ms") or 0) / 1000, str(r.get("status")))
        for runs in grouped.values()
        for r in runs
        if ran(r) and isinstance(r.get("duration_ms"), int | float)
    ]
    out.append("<h2>Duration over time</h2>")
    out.append(_scatter_svg("duration-chart", "run durations", durations, axis))
    lateness = [
        (run_time(r) or start, delay, str(r.get("status")))
        for runs in grouped.values()
        for r in runs
        if ran(r) and (delay := lateness_of(r)) is not None
    ]
    out.append("<h2>Fire lateness over time</h2>")
    out.append(
        '<p class="meta">How long after its scheduled instant each scheduled run started.</p>'
    )
    out.append(_scatter_svg("lateness-chart", "fire lateness", lateness, axis))
    return out
