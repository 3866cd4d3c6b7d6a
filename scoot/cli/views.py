"""Reading records back for people: run history, daemon status, sessions and audit lines."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from typing import Any

import orjson

from scoot.errors import UsageError
from scoot.instance.home import Home
from scoot.shared.terminal import shorten, utc

HISTORY_HEADER = f"{'ENDED (UTC)':<20} {'JOB':<20} {'ORIGIN':<8} {'STATUS':<11} {'TIME':>8} {'TOKENS IN/OUT':>15}  "
# DETAIL wraps to the width left, but never into a column narrower than this.
MIN_DETAIL_WIDTH = 30


def render_history(rows: list[dict[str, Any]], width: int = 100) -> list[str]:
    """One run per row, newest first; DETAIL wraps under itself to fit `width`, never cut."""
    if not rows:
        return ["no runs recorded yet"]
    indent = " " * len(HISTORY_HEADER)
    room = max(MIN_DETAIL_WIDTH, width - len(HISTORY_HEADER))
    lines = [HISTORY_HEADER + "DETAIL"]
    for row in rows:
        when = utc(row.get("ended_at")).removesuffix(" UTC")
        origin = str(row.get("origin") or "?")
        # A `-e` run has no job; its session id is in `sessions list` and --json.
        job = row.get("job_id") or ("(-e)" if origin == "cli" else row.get("session_id") or "?")
        duration = row.get("duration_ms")
        took = f"{duration / 1000:.1f}s" if isinstance(duration, int | float) else "-"
        detail = row.get("answer") if row.get("status") == "ok" else row.get("error")
        attempt = row.get("attempt")
        if isinstance(attempt, int) and attempt > 1:
            detail = f"(attempt {attempt}) {detail or ''}"
        wrapped = textwrap.wrap(" ".join(str(detail or "").split()), room) or [""]
        lines.append(
            f"{when:<20} {shorten(str(job), 20):<20} {shorten(origin, 8):<8} "
            f"{str(row.get('status')):<11} {took:>8} {tokens_text(row):>15}  {wrapped[0]}"
        )
        lines += [indent + more for more in wrapped[1:]]
    return lines


def tokens_text(row: dict[str, Any]) -> str:
    """A run's tokens as input/output, with its cost when priced; "-" when never counted."""
    tokens = row.get("tokens")
    if not isinstance(tokens, dict):
        return "-"
    text = f"{tokens.get('input', 0)}/{tokens.get('output', 0)}"
    if row.get("tokens_reported") is False:
        text += "?"  # a backend answered without usage
    cost = row.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        text += f" {cost:.4f}"
    return text


def render_status(report: dict[str, Any]) -> list[str]:
    state = report.get("state") or {}
    verdict = report["verdict"]
    lines = [f"daemon: {verdict}   home: {report['home']}"]
    if verdict == "never-started":
        lines.append(
            "no daemon has run in this runtime directory; start one with `scoot daemon run`"
        )
        return lines
    if report.get("state_problem") and not state:
        lines.append(f"state: {report['state_problem']}")
    if state:
        lines.append(
            f"recorded: status={state.get('status')} pid={state.get('pid')} "
            f"jobs={state.get('jobs')} poll_ms={state.get('poll_ms')} version={state.get('version')}"
        )
        for key in ("started_at_unix", "updated_at_unix", "stopped_at_unix"):
            value = state.get(key)
            if isinstance(value, int | float):
                lines.append(f"{key.replace('_unix', '')}: {utc(value)}")
        if state.get("stop_reason"):
            lines.append(f"stop_reason: {state['stop_reason']}")
        if state.get("note"):
            lines.append(f"note: {state['note']}")
        waiting = state.get("waiting_for_backend")
        if isinstance(waiting, dict) and waiting:
            shown = ", ".join(f"{count} for {name}" for name, count in sorted(waiting.items()))
            lines.append(f"waiting for a backend slot (max_concurrent): {shown}")
    lines.append(f"pid file: {report.get('pid_file') or 'absent'}")
    if verdict == "unproven":
        lines.append(
            f"not proven to be the recorded daemon: {report.get('lock_problem')}; "
            "`scoot daemon stop` signals nobody until it is"
        )
    lines += render_activity(report, now=time.time())
    if verdict == "stale":
        lines.append(
            "the recorded daemon is gone (crash or kill); the next `scoot daemon run` recovers, "
            "or run `scoot daemon stop` to clean up"
        )
    return lines


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def render_activity(report: dict[str, Any], *, now: float) -> list[str]:
    """Runs in progress, the queue, next fires and last outcomes (pure, given `now`)."""
    lines: list[str] = []
    if report.get("verdict") == "running":
        runs = [r for r in report.get("runs") or [] if isinstance(r, dict)]
        lines.append(f"runs in progress: {len(runs)}")
        for run in runs:
            started = run.get("started_at")
            age = _age(now - started) if isinstance(started, int | float) else "?"
            lines.append(
                f"  {shorten(str(run.get('job_id') or '-'), 20):<20} {run.get('run_id')}  "
                f"mode={run.get('mode')}  age={age}"
            )
        queue = [q for q in report.get("queue") or [] if isinstance(q, dict)]
        lines.append(f"queued: {len(queue)}")
        for item in queue:
            queued = item.get("queued_at")
            waited = _age(now - queued) if isinstance(queued, int | float) else "?"
            lines.append(
                f"  {shorten(str(item.get('job_id') or '-'), 20):<20} {item.get('run_id')}  "
                f"waiting={waited}"
            )
        fires = report.get("next_fires") or {}
        if isinstance(fires, dict) and fires:
            lines.append("next fires:")
            for job, due in fires.items():
                when = utc(due)
                rel = (
                    f"in {_age(due - now)}" if isinstance(due, int | float) and due > now else "due"
                )
                lines.append(f"  {shorten(str(job), 20):<20} {when}  ({rel})")
    outcomes = report.get("last_outcomes") or {}
    if isinstance(outcomes, dict) and outcomes:
        lines.append("last outcomes:")
        for job, row in outcomes.items():
            row = row if isinstance(row, dict) else {}
            error = row.get("error") if row.get("status") != "ok" else None
            lines.append(
                f"  {shorten(str(job), 20):<20} {str(row.get('status')):<11} "
                f"{utc(row.get('ended_at'))}" + (f"  {shorten(str(error), 60)}" if error else "")
            )
    return lines


def _check_session_id(session_id: str) -> None:
    # Here, not at the top: `daemon status` renders with this module and never
    # needs the job validation (and the config it imports).
    from scoot.schedule.jobs import JOB_ID_PATTERN

    if not JOB_ID_PATTERN.fullmatch(session_id) or session_id in (".", ".."):
        raise UsageError(f"invalid session id {session_id!r}: use 1 to 64 of A-Z a-z 0-9 . _ -")


def list_sessions(home: Home) -> list[str]:
    try:
        files = sorted(home.sessions.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        files = []
    if not files:
        return ["no sessions recorded yet"]
    lines = []
    for path in files:
        st = path.stat()
        lines.append(f"{path.stem:<40} {utc(st.st_mtime)}  {st.st_size} bytes")
    return lines


def unknown_session(session_id: str) -> UsageError:
    """One rule for `session show` and `audit show`: an unknown session is exit 2."""
    return UsageError(f"no session {session_id!r}; see `scoot sessions list`")


def show_session(home: Home, session_id: str, *, full: bool = False) -> list[str]:
    _check_session_id(session_id)
    path = home.session_file(session_id)
    if not path.exists():
        raise unknown_session(session_id)
    lines = []
    for raw in path.read_bytes().splitlines():
        row = _object_or_none(raw)
        if row is None:
            lines.append("(unparseable line skipped)")
            continue
        ts = row.get("ts")
        when = utc(ts / 1000) if isinstance(ts, int) else "?"
        content = row.get("content")
        if row.get("role") == "system" and not full:
            # The same long prompt opens every run: shown on request only.
            size = len(content) if isinstance(content, str) else 0
            content = f"(system prompt, {size} characters; --full shows it)"
        lines.append(f"[{when}] {row.get('role')}: {content}")
    return lines


def audit_event_line(row: dict[str, Any]) -> str:
    """One audit event for people: time, kind, session and its message."""
    ts = row.get("ts")
    when = utc(ts / 1000) if isinstance(ts, int | float) and not isinstance(ts, bool) else "?"
    session = row.get("session_id") or "-"
    # One event, one line: a tool's multi-line output shows its breaks as \n.
    message = str(row.get("msg", "")).replace("\n", "\\n")
    return f"[{when}] {str(row.get('kind', '?')):<16} {str(session):<24} {message}"


def audit_events(home: Home, session_id: str | None) -> Iterator[str]:
    """Readable audit lines of one session, or of all; garbage lines are marked."""
    for line in audit_lines(home, session_id):
        row = _object_or_none(line.encode("utf-8", "replace"))
        yield audit_event_line(row) if row is not None else "(unparseable line skipped)"


def audit_lines(home: Home, session_id: str | None) -> Iterator[str]:
    """The raw JSONL lines of one session, or of all; an unknown session is an error."""
    if session_id is not None:
        _check_session_id(session_id)
    if not home.audit_log.exists():
        if session_id is not None and not home.session_file(session_id).exists():
            raise unknown_session(session_id)
        return
    found = False
    for line in _matching_lines(home, session_id):
        found = True
        yield line
    if session_id is not None and not found and not home.session_file(session_id).exists():
        raise unknown_session(session_id)


def _matching_lines(home: Home, session_id: str | None) -> Iterator[str]:
    with open(home.audit_log, "rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\n")
            if not line:
                continue
            if session_id is not None:
                row = _object_or_none(line)
                if row is None or row.get("session_id") != session_id:
                    continue
            yield line.decode("utf-8", "replace")


def _object_or_none(raw: bytes) -> dict[str, Any] | None:
    """A record line as a dict; None for garbage or JSON that is not an object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
