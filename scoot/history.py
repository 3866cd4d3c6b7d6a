"""Reading records back for people: run history, daemon status, sessions and audit lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from scoot.errors import UsageError
from scoot.home import Home
from scoot.jobs import JOB_ID_PATTERN
from scoot.listing import shorten, utc


def render_history(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["no runs recorded yet"]
    lines = [
        f"{'ENDED (UTC)':<20} {'JOB':<20} {'STATUS':<11} {'TIME':>8} {'TOKENS IN/OUT':>15}  DETAIL"
    ]
    for row in rows:
        when = utc(row.get("ended_at")).removesuffix(" UTC")
        job = row.get("job_id") or row.get("session_id") or "?"
        duration = row.get("duration_ms")
        took = f"{duration / 1000:.1f}s" if isinstance(duration, int | float) else "-"
        detail = row.get("answer") if row.get("status") == "ok" else row.get("error")
        attempt = row.get("attempt")
        if isinstance(attempt, int) and attempt > 1:
            detail = f"(attempt {attempt}) {detail or ''}"
        lines.append(
            f"{when:<20} {shorten(str(job), 20):<20} {str(row.get('status')):<11} {took:>8} "
            f"{tokens_text(row):>15}  {shorten(str(detail or ''), 60)}"
        )
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
    if verdict == "stale":
        lines.append(
            "the recorded daemon is gone (crash or kill); the next `scoot daemon run` recovers, "
            "or run `scoot daemon stop` to clean up"
        )
    return lines


def _check_session_id(session_id: str) -> None:
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


def show_session(home: Home, session_id: str) -> list[str]:
    _check_session_id(session_id)
    path = home.session_file(session_id)
    if not path.exists():
        raise UsageError(f"no session {session_id!r}; see `scoot sessions list`")
    lines = []
    for raw in path.read_bytes().splitlines():
        row = _object_or_none(raw)
        if row is None:
            lines.append("(unparseable line skipped)")
            continue
        ts = row.get("ts")
        when = utc(ts / 1000) if isinstance(ts, int) else "?"
        lines.append(f"[{when}] {row.get('role')}: {row.get('content')}")
    return lines


def audit_lines(home: Home, session_id: str | None) -> Iterator[str]:
    if session_id is not None:
        _check_session_id(session_id)
    if not home.audit_log.exists():
        return
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


def _object_or_none(raw: bytes) -> dict | None:
    """A record line as a dict; None for garbage or JSON that is not an object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
