"""Dead-man's-switch pings in Healthchecks' protocol (pure)."""

from __future__ import annotations

from urllib.parse import quote


def ping_url(base: str, when: str, run_id: str) -> str:
    """`<url>/start`, `<url>` or `<url>/fail`, each with `?rid=<run_id>`."""
    root = base.rstrip("/")
    suffix = {"start": "/start", "ok": "", "fail": "/fail"}[when]
    return f"{root}{suffix}?rid={quote(run_id, safe='')}"


def end_ping(status: str) -> str:
    return "ok" if status == "ok" else "fail"
