"""The scoot.notify.v1 body, its headers, and its HMAC-SHA256 signature (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from scoot.shared.clipping import clip

FORMAT = "scoot.notify.v1"
# The answer a notification carries is clipped to this many characters; the
# whole answer stays in the run's records (`scoot schedule last JOB`).
ANSWER_CHARS = 4000
ERROR_CHARS = 2000


def build_payload(
    *,
    event: str,
    delivery_id: str,
    run: dict[str, Any],
    host: str,
    home: str,
) -> dict[str, Any]:
    """The body's fields, without `attempt` (set per attempt by `body_for`)."""
    started = run.get("started_at")
    ended = run.get("ended_at")
    payload: dict[str, Any] = {
        "format": FORMAT,
        "event": event,
        "delivery_id": delivery_id,
        "job_id": run.get("job_id"),
        "run_id": run.get("run_id"),
        "status": run.get("status"),
        "answer": clip(run.get("answer"), ANSWER_CHARS),
        "error": clip(run.get("error"), ERROR_CHARS),
        "instant": run.get("instant"),
        "started_at": started,
        "ended_at": ended,
        "duration_ms": run.get("duration_ms"),
        "tokens": _tokens(run.get("tokens")),
        "host": host,
        "home": home,
    }
    cost = run.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        payload["cost"] = cost  # only a priced backend's runs have one
    return payload


def _tokens(tokens: Any) -> dict[str, int] | None:
    """`{"input", "output"}` of an ended run; null for events that are no run's end."""
    if not isinstance(tokens, dict):
        return None
    counts: dict[str, int] = {}
    for direction in ("input", "output"):
        count = tokens.get(direction)
        counts[direction] = count if isinstance(count, int) and not isinstance(count, bool) else 0
    return counts


def body_for(payload: dict[str, Any], attempt: int) -> bytes:
    return orjson.dumps({**payload, "attempt": attempt})


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def attempt_request(
    payload: dict[str, Any],
    attempt: int,
    *,
    url: str | None,
    command: list[str] | None,
    timeout_sec: Any,
    secret: str | None,
    now: float,
) -> dict[str, Any]:
    """What the courier is asked to do for one attempt of a notification: POST the
    signed body to `url`, or give it to `command` on stdin."""
    body = body_for(payload, attempt)
    request: dict[str, Any] = {
        "id": payload["delivery_id"],
        "timeout_sec": timeout_sec,
        "body": base64.b64encode(body).decode(),
    }
    if command:
        request["command"] = list(command)
    else:
        request.update(url=url, method="POST", headers=headers_for(payload, body, secret, now))
    return request


def headers_for(
    payload: dict[str, Any], body: bytes, secret: str | None, now: float
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "scoot-notify/1",
        "X-Scoot-Event": str(payload["event"]),
        "X-Scoot-Delivery": str(payload["delivery_id"]),
    }
    if secret:
        headers["X-Scoot-Signature"] = signature(secret, int(now), body)
    return headers
