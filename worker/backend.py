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
from typing import Any
from urllib.parse import urlsplit

from scoot import __version__
from scoot.shared.spend.usage import NONE_REPORTED, Usage, usage_of
from worker.replies import (
    RETRY_AFTER_CAP_S,
    AttemptFailed,
    BackendError,
    Failure,
    chat_text,
    decode_json,
    http_failure,
    malformed,
    one_line,
    responses_text,
)

# What the parent (the doctor's backend check) and the tests take from here.
__all__ = [
    "RETRY_AFTER_CAP_S",
    "Backend",
    "BackendError",
    "backoff_seconds",
    "http_failure",
    "one_line",
    "responses_text",
]

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
# A call, retries and waits included, never takes longer than this many timeouts.
TOTAL_BUDGET_TIMEOUTS = 2
APIS = ("chat", "responses")
# An early connection that takes longer is given up (the request then connects itself).
EARLY_CONNECT_CAP_S = 1.0
# How a connection opened early and closed by the server while idle fails on first use.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


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
        self._ready: http.client.HTTPConnection | None = None  # opened by `connect_early`

    def connect_early(self) -> None:
        """Open the first request's connection now (TCP, and TLS for https): a run
        started ahead of its instant then only sends on it. Best effort: on any
        failure the request connects as usual and reports what goes wrong."""
        connection = self._connection(min(self.timeout_ms / 1000, EARLY_CONNECT_CAP_S))
        try:
            connection.connect()
        except (http.client.HTTPException, OSError):  # ssl.SSLError is an OSError
            connection.close()
            return
        self._ready = connection

    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout_s)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout_s)

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
            except AttemptFailed as failed:
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
        connection, opened = self._ready, self._ready is not None
        self._ready = None
        if connection is None:
            connection = self._connection(timeout_s)
        try:
            if opened and connection.sock is not None:
                connection.sock.settimeout(timeout_s)
            else:
                connection.connect()
            sock = connection.sock
            connection.request("POST", self._path, body=data, headers=headers)
            response = connection.getresponse()
            body = self._read_body(response, sock, attempt_deadline)
        except AttemptFailed:
            raise
        except TimeoutError:
            raise AttemptFailed(self._timeout_failure(timeout_s)) from None
        except ssl.SSLError as error:
            raise AttemptFailed(
                Failure(
                    f"TLS with model backend at {self.base_url} failed ({one_line(str(error))})",
                    "check [backend] base_url and the server's certificate",
                    "unreachable",
                )
            ) from None
        except (http.client.HTTPException, OSError) as error:
            if opened and isinstance(error, _STALE):
                return self._attempt(data, deadline)  # its early connection was closed: anew
            raise AttemptFailed(self._transport_failure(error)) from None
        finally:
            connection.close()
        if response.status != 200:
            raise AttemptFailed(
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
                raise AttemptFailed(malformed(f"larger than {MAX_RESPONSE_BYTES} bytes"))
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
