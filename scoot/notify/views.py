"""What the notification commands show: `schedule last`, `notify pending`, `notify test`."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from scoot.notify.courier import attempt
from scoot.notify.deliveries import outbox_dir
from scoot.notify.journal import delivery_log
from scoot.notify.outbox import Outbox, mark_alive, new_delivery_id
from scoot.notify.payload import attempt_request, build_payload
from scoot.notify.settings import Target
from scoot.records.files import read_json_lines
from scoot.shared.clipping import MARK_START


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(ms: Any) -> str:
    if not isinstance(ms, int):
        return "-"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def full_answer(sessions: Path, record: dict[str, Any]) -> str | None:
    """The run's whole answer: runs.jsonl clips long ones; the transcript holds it all."""
    answer = record.get("answer")
    if not isinstance(answer, str) or MARK_START not in answer:
        return answer
    session_id = record.get("session_id")
    if not isinstance(session_id, str) or "/" in session_id or session_id.startswith("."):
        return answer
    lines, _ = read_json_lines(sessions / f"{session_id}.jsonl")
    for line in reversed(lines):
        if line.get("run_id") != record.get("run_id") or line.get("role") != "assistant":
            continue
        try:
            step = orjson.loads(str(line.get("content")))
        except orjson.JSONDecodeError:
            break
        if isinstance(step, dict) and step.get("action") == "final":
            return str(step.get("action_input"))
        break
    return answer


def deliveries_of(state: Path, run_id: Any) -> list[dict[str, Any]]:
    """Each notification and ping of one run, in its latest state."""
    lines, _ = read_json_lines(delivery_log(state))
    latest: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line.get("run_id") == run_id and isinstance(line.get("delivery_id"), str):
            latest[line["delivery_id"]] = line
    for item in latest.values():
        if item.get("state") in ("queued", "failed"):
            item["state"] = "pending"
    return list(latest.values())


def last_report(
    home_state: Path, sessions: Path, rows: list[dict[str, Any]], job_id: str
) -> dict[str, Any] | None:
    picked = [r for r in rows if r.get("job_id") == job_id]
    if not picked:
        return None
    record = dict(picked[-1])
    record["answer"] = full_answer(sessions, record)
    record["deliveries"] = deliveries_of(home_state, record.get("run_id"))
    return record


def render_last(report: dict[str, Any]) -> list[str]:
    duration = report.get("duration_ms")
    lines = [
        f"job {report.get('job_id')}: {report.get('status')}",
        f"run:      {report.get('run_id')} ({report.get('origin')})",
        f"started:  {_when(report.get('started_at'))}",
        f"ended:    {_when(report.get('ended_at'))}",
        f"duration: {_duration(duration)}",
    ]
    tokens = report.get("tokens")
    if isinstance(tokens, dict):
        unreported = (
            " (the backend reported no usage)" if report.get("tokens_reported") is False else ""
        )
        lines.append(
            f"tokens:   {tokens.get('input', 0)} input, {tokens.get('output', 0)} output{unreported}"
        )
    cost = report.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        lines.append(f"cost:     {cost:.6f}")
    deliveries = report.get("deliveries") or []
    if deliveries:
        counts: dict[str, int] = {}
        for item in deliveries:
            counts[item["state"]] = counts.get(item["state"], 0) + 1
        lines.append(
            "notified: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        )
    if report.get("error"):
        lines.append(f"error:    {report['error']}")
    if report.get("answer") is not None:
        lines += ["answer:", str(report["answer"])]
    return lines


def pending_entries(state: Path) -> tuple[list[dict[str, Any]], int]:
    entries, bad = Outbox(outbox_dir(state)).load()
    shown = []
    for entry in entries:
        data = entry.data
        shown.append(
            {
                "delivery_id": entry.delivery_id,
                "kind": entry.kind,
                "event": data.get("event"),
                "job_id": data.get("job_id"),
                "run_id": data.get("run_id"),
                "target": data.get("target") or data.get("url"),
                "created_at": data.get("created_at"),
                "attempts": data.get("attempts"),
                "next_at": data.get("next_at") or None,
                "last_error": data.get("last_error"),
                "owner_alive": mark_alive(str(data.get("owner") or "")),
            }
        )
    return shown, bad


def render_pending(entries: list[dict[str, Any]], now: float) -> list[str]:
    if not entries:
        return ["nothing pending: every notification and ping was delivered or abandoned"]
    lines = [f"{len(entries)} pending:"]
    for item in entries:
        age = now - float(item.get("created_at") or now)
        what = f"{item['kind']} {item['event']}"
        retry = f", next try {_when(item['next_at'])}" if item.get("next_at") else ""
        error = f", last error: {item['last_error']}" if item.get("last_error") else ""
        owner = (
            "" if item["owner_alive"] else " (its process is gone; the next scoot run delivers it)"
        )
        lines.append(
            f"  {item['delivery_id']}  {what:<16} job {item['job_id']} -> {item['target']}: "
            f"{item['attempts']} attempt(s), {age:.0f} s old{retry}{error}{owner}"
        )
    return lines


def send_test(target: Target, home_root: Path, environ: dict[str, str]) -> dict[str, Any]:
    """One `test` event to `target`, now, in this process; the attempt's result."""
    now = time.time()
    payload = build_payload(
        event="test",
        delivery_id=new_delivery_id(now),
        run={
            "job_id": None,
            "run_id": None,
            "status": "test",
            "answer": "a test from scoot notify test",
        },
        host=socket.gethostname(),
        home=str(home_root),
    )
    secret = environ.get(target.secret_env) if target.secret_env else None
    request = attempt_request(
        payload,
        1,
        url=target.url,
        command=list(target.command) if target.command else None,
        timeout_sec=target.timeout_sec,
        secret=secret,
        now=now,
    )
    started = time.monotonic()
    result = attempt(request)
    result["elapsed_sec"] = round(time.monotonic() - started, 3)
    result["signed"] = bool(secret)
    result["secret_missing"] = bool(target.secret_env) and not secret
    return result
