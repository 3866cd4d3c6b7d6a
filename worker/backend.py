"""HTTP client for an OpenAI-compatible model backend: Chat Completions or Responses.

Stdlib only and imported by every worker, so it stays small. Every failure
becomes a `BackendError` whose message is one line saying what went wrong and
what to change; connect errors, 429 and 5xx are retried with exponential
backoff and jitter. The token is sent as a bearer header and never appears in
any message.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scoot import __version__
from scoot.shared.clipping import clip
from scoot.shared.spend.usage import NONE_REPORTED, Usage, usage_of

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 60.0
# A call, retries and waits included, never takes longer than this many timeouts.
TOTAL_BUDGET_TIMEOUTS = 2
DETAIL_CHARS = 200
APIS = ("chat", "responses")


class BackendError(Exception):
    """A model call that failed; `message` is one line (what went wrong; how to fix it).

    `kind` is one of unreachable, auth, model, timeout, malformed, http, refusal.
    """

    def __init__(self, message: str, *, kind: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retryable = retryable


@dataclass(frozen=True)
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


class _AttemptFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.what)
        self.failure = failure


# --- pure helpers ------------------------------------------------------------


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


def _malformed(why: str) -> Failure:
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
        raise _AttemptFailed(_malformed("not JSON")) from None


def chat_text(payload: Any) -> str:
    """The assistant text of a Chat Completions reply."""
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise _AttemptFailed(_malformed("no choices[0].message")) from None
    if not isinstance(message, dict):
        raise _AttemptFailed(_malformed("no choices[0].message"))
    content = message.get("content")
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        content = "".join(text for text in texts if isinstance(text, str))
    if isinstance(content, str) and content:
        return content
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        raise _AttemptFailed(_refusal(refusal))
    if payload["choices"][0].get("finish_reason") == "content_filter":
        raise _AttemptFailed(_refusal("stopped by the content filter"))
    if isinstance(content, str):
        return content
    raise _AttemptFailed(_malformed("no choices[0].message.content"))


def responses_text(payload: Any) -> str:
    """The assistant text of a Responses API reply."""
    if not isinstance(payload, dict):
        raise _AttemptFailed(_malformed("not a JSON object"))
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
        raise _AttemptFailed(_refusal(" ".join(refusals)))
    raise _AttemptFailed(_malformed("no output_text and no output[].content[] text"))


def backoff_seconds(attempt: int, rng: Callable[[], float]) -> float:
    """Exponential backoff with jitter for retry number `attempt` (0-based)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**attempt)
    return ceiling * (0.5 + 0.5 * rng())


# --- the client ----------------------------------------------------------------


class Backend:
    """One model endpoint; `complete(messages)` returns the assistant's text."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api: str = "chat",
        timeout_ms: int,
        token: str | None,
        extra_body: dict[str, Any] | None = None,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, got {api!r}")
        if timeout_ms <= 0 or retries < 0:
            raise ValueError("timeout_ms must be > 0 and retries >= 0")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(
                f"model backend base_url {one_line(base_url, 100)!r} is not an http:// or "
                "https:// URL; check [backend] base_url",
                kind="unreachable",
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.timeout_ms = timeout_ms
        self._token = token or None
        self._extra_body = dict(extra_body or {})
        self._retries = retries
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        suffix = "/chat/completions" if api == "chat" else "/responses"
        self._path = parts.path.rstrip("/") + suffix + (f"?{parts.query}" if parts.query else "")
        self.endpoint_url = self.base_url.split("?", 1)[0] + suffix
        # The tokens of the last answer `complete` returned (scoot.shared.spend.usage).
        self.last_usage: Usage = NONE_REPORTED

    def complete(self, messages: list[dict[str, Any]]) -> str:
        """Send the conversation and return the assistant's text, or raise BackendError."""
        body = dict(self._extra_body)
        body["model"] = self.model
        if self.api == "chat":
            body["messages"] = messages
        else:
            body["input"] = messages
        if "stream" in body:
            body["stream"] = False  # replies are read whole
        data = json.dumps(body).encode("utf-8")
        deadline = self._clock() + TOTAL_BUDGET_TIMEOUTS * self.timeout_ms / 1000
        attempt = 0
        while True:
            try:
                return self._attempt(data, deadline)
            except _AttemptFailed as failed:
                failure = failed.failure
            if not failure.retryable or attempt >= self._retries:
                raise self._scrubbed(failure.error(attempt + 1))
            delay = backoff_seconds(attempt, self._rng)
            if failure.retry_after_s is not None:
                delay = failure.retry_after_s
            if self._clock() + delay >= deadline:
                raise self._scrubbed(failure.error(attempt + 1))
            self._sleep(delay)
            attempt += 1

    def _scrubbed(self, error: BackendError) -> BackendError:
        # A server may echo what it was sent; the token never leaves in a message.
        if self._token and self._token in error.message:
            return BackendError(
                error.message.replace(self._token, "[redacted]"),
                kind=error.kind,
                retryable=error.retryable,
            )
        return error

    def _attempt(self, data: bytes, deadline: float) -> str:
        timeout_s = min(self.timeout_ms / 1000, max(deadline - self._clock(), 0.001))
        attempt_deadline = self._clock() + timeout_s
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"scoot/{__version__}",
            "Connection": "close",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connection_class = (
            http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        )
        connection = connection_class(self._host, self._port, timeout=timeout_s)
        try:
            connection.connect()
            sock = connection.sock
            connection.request("POST", self._path, body=data, headers=headers)
            response = connection.getresponse()
            body = self._read_body(response, sock, attempt_deadline)
        except _AttemptFailed:
            raise
        except TimeoutError:
            raise _AttemptFailed(self._timeout_failure(timeout_s)) from None
        except ssl.SSLError as error:
            raise _AttemptFailed(
                Failure(
                    f"TLS with model backend at {self.base_url} failed ({one_line(str(error))})",
                    "check [backend] base_url and the server's certificate",
                    "unreachable",
                )
            ) from None
        except (http.client.HTTPException, OSError) as error:
            raise _AttemptFailed(self._transport_failure(error)) from None
        finally:
            connection.close()
        if response.status != 200:
            raise _AttemptFailed(
                http_failure(
                    response.status,
                    response.reason,
                    response.headers,
                    body,
                    base_url=self.base_url,
                    endpoint_url=self.endpoint_url,
                    model=self.model,
                    has_token=self._token is not None,
                )
            )
        payload = decode_json(body)
        text = chat_text(payload) if self.api == "chat" else responses_text(payload)
        self.last_usage = usage_of(payload, self.api)
        return text

    def _read_body(
        self, response: http.client.HTTPResponse, sock: socket.socket | None, deadline: float
    ) -> bytes:
        """Read the whole body, bounding every read by the time left in this attempt."""
        chunks: list[bytes] = []
        size = 0
        while not response.isclosed():
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise TimeoutError
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.read(READ_CHUNK_BYTES)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise _AttemptFailed(_malformed(f"larger than {MAX_RESPONSE_BYTES} bytes"))
            chunks.append(chunk)
        return b"".join(chunks)

    def _timeout_failure(self, timeout_s: float) -> Failure:
        return Failure(
            f"model backend timed out after {round(timeout_s * 1000)} ms",
            "raise [backend] timeout_ms or check the server",
            "timeout",
        )

    def _transport_failure(self, error: Exception) -> Failure:
        if isinstance(error, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(error, socket.gaierror):
            reason = f"cannot resolve host {self._host!r}"
        elif isinstance(
            error,
            http.client.RemoteDisconnected | ConnectionResetError | http.client.IncompleteRead,
        ):
            reason = "connection closed before a full answer"
        elif isinstance(error, OSError) and error.strerror:
            reason = error.strerror.lower()
        else:
            reason = one_line(str(error)) or type(error).__name__
        return Failure(
            f"model backend unreachable at {self.base_url} ({reason})",
            "is the server running? check [backend] base_url",
            "unreachable",
            retryable=True,
        )
