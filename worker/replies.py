"""What a model backend's replies and failures mean: pure functions, stdlib only.

A reply's assistant text (Chat Completions or Responses), and every way a
call can fail turned into one line that says what went wrong and what to
change (`Failure`, then `BackendError`).
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from scoot.shared.clipping import clip
from scoot.shared.value_class import value_class

RETRY_AFTER_CAP_S = 60.0
DETAIL_CHARS = 200


class BackendError(Exception):
    """A model call that failed; `message` is one line (what went wrong; how to fix it).

    `kind` is one of unreachable, auth, model, timeout, malformed, http, refusal.
    """

    def __init__(self, message: str, *, kind: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retryable = retryable


@value_class
class Failure:
    """One failed attempt, before it is turned into a BackendError."""

    what: str
    fix: str
    kind: str
    retryable: bool = False
    retry_after_s: float | None = None

    def error(self, attempts: int = 1) -> BackendError:
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        return BackendError(
            f"{self.what}{tried}; {self.fix}", kind=self.kind, retryable=self.retryable
        )


class AttemptFailed(Exception):
    """One attempt failed as `failure` says; the client decides whether to retry."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.what)
        self.failure = failure


def one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    """Text flattened to one line and shortened to `limit` characters."""
    flat = " ".join(text.split())
    return clip(flat, limit, mark="...", fit=True)


def server_message(body: bytes) -> str:
    """The error message a server put in its body (OpenAI, Ollama or FastAPI style)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return one_line(body[:1000].decode("utf-8", "replace"))
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail"))
        if isinstance(error, dict):
            error = error.get("message")
        if isinstance(error, str):
            return one_line(error)
    return ""


def _is_model_not_found(body: bytes, detail: str) -> bool:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("code") == "model_not_found":
        return True
    lowered = detail.lower()
    return "model" in lowered and ("not found" in lowered or "does not exist" in lowered)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds, capped; HTTP-date values are ignored (backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, RETRY_AFTER_CAP_S)


def http_failure(
    status: int,
    reason: str,
    headers: http.client.HTTPMessage,
    body: bytes,
    *,
    base_url: str,
    endpoint_url: str,
    model: str,
    has_token: bool,
) -> Failure:
    """What an HTTP error status means for the user."""
    detail = server_message(body)
    shown = f": {detail}" if detail else ""
    if status in (401, 403):
        return _auth_failure(status, has_token)
    if status in (400, 404) and _is_model_not_found(body, detail):
        return Failure(f"model '{model}' not found at {base_url}", "check [backend] model", "model")
    if status == 404:
        return Failure(
            f"model backend has no endpoint {endpoint_url} (HTTP 404)",
            "check [backend] base_url (it usually ends in /v1) and [backend] api",
            "http",
        )
    if status == 429:
        return Failure(
            f"model backend is rate limiting requests (HTTP 429{shown})",
            "retry later or run jobs less often",
            "http",
            retryable=True,
            retry_after_s=retry_after_seconds(headers.get("Retry-After")),
        )
    if status >= 500:
        return Failure(
            f"model backend failed with HTTP {status} ({reason or 'server error'}{shown})",
            f"check the server at {base_url}",
            "http",
            retryable=True,
        )
    if 300 <= status < 400:
        location = one_line(headers.get("Location") or "another address")
        return Failure(
            f"model backend redirected to {location} (HTTP {status})",
            "set [backend] base_url to the final address",
            "http",
        )
    return Failure(
        f"model backend rejected the request (HTTP {status}{shown})",
        "check [backend] model, api and extra_body",
        "http",
    )


def _auth_failure(status: int, has_token: bool) -> Failure:
    if has_token:
        return Failure(
            f"model backend rejected the API key (HTTP {status})",
            "check the token source (scoot config shows it)",
            "auth",
        )
    return Failure(
        f"model backend requires an API key (HTTP {status}) and none was given",
        "provide one (scoot config shows the token sources)",
        "auth",
    )


def malformed(why: str) -> Failure:
    return Failure(
        f"model backend returned a malformed response ({why})",
        "check that [backend] base_url is an OpenAI-compatible API and [backend] api matches it",
        "malformed",
    )


def _refusal(text: str) -> Failure:
    return Failure(
        f"model refused to answer ({one_line(text) or 'no reason given'})",
        "rephrase the goal or use another [backend] model",
        "refusal",
    )


def decode_json(body: bytes) -> Any:
    """Parse a response body; invalid UTF-8 is kept as lone surrogates for the caller to judge."""
    try:
        return json.loads(body.decode("utf-8", "surrogateescape"))
    except ValueError:
        raise AttemptFailed(malformed("not JSON")) from None


def chat_text(payload: Any) -> str:
    """The assistant text of a Chat Completions reply."""
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise AttemptFailed(malformed("no choices[0].message")) from None
    if not isinstance(message, dict):
        raise AttemptFailed(malformed("no choices[0].message"))
    content = message.get("content")
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        content = "".join(text for text in texts if isinstance(text, str))
    if isinstance(content, str) and content:
        return content
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        raise AttemptFailed(_refusal(refusal))
    if payload["choices"][0].get("finish_reason") == "content_filter":
        raise AttemptFailed(_refusal("stopped by the content filter"))
    if isinstance(content, str):
        return content
    raise AttemptFailed(malformed("no choices[0].message.content"))


def responses_text(payload: Any) -> str:
    """The assistant text of a Responses API reply."""
    if not isinstance(payload, dict):
        raise AttemptFailed(malformed("not a JSON object"))
    if isinstance(payload.get("output_text"), str):
        return str(payload["output_text"])
    texts: list[str] = []
    refusals: list[str] = []
    output = payload.get("output")
    for item in output if isinstance(output, list) else []:
        parts = item.get("content") if isinstance(item, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "refusal":
                refusals.append(str(part.get("refusal") or ""))
    if texts:
        return "".join(texts)
    if refusals:
        raise AttemptFailed(_refusal(" ".join(refusals)))
    raise AttemptFailed(malformed("no output_text and no output[].content[] text"))
