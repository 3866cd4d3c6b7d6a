"""The scripted model's HTTP plumbing: the threading server, its request handler and request reading."""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from scoot.testing.model_server.replies import _status_phrase, error_body

if TYPE_CHECKING:
    from scoot.testing.model_server.server import ScriptedModel


MAX_REQUEST_BYTES = 64 * 1024 * 1024


# How often a hanging reply looks at its client and at the stop flag.
HANG_POLL_S = 0.05


# An idle keep-alive connection is dropped after this long.
IDLE_CONNECTION_S = 60.0


class _AttemptCounter:
    """Counts attempts per (goal, turn), so `fail_times` fails only the first K."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, int], int] = {}

    def next_attempt(self, goal: str, turn: int) -> int:
        with self._lock:
            attempt = self._attempts.get((goal, turn), 0) + 1
            self._attempts[(goal, turn)] = attempt
            return attempt


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must return even while a scripted reply hangs.
    block_on_close = False

    def __init__(self, address: tuple[str, int], model: ScriptedModel) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.model = model
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-reply is normal here (timeouts, hangs).
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scoot-scripted-model"
    timeout = IDLE_CONNECTION_S
    server: _Server
    in_flight = False  # a model request of this handler counts as being answered

    def setup(self) -> None:
        super().setup()
        self.server.model._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.model._track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.model._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.model._serve(self, "POST")

    def send_json(
        self, status: int, payload: object, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_bytes(status, json.dumps(payload).encode("utf-8"), extra_headers)

    def send_bytes(
        self, status: int, data: bytes, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        self.server.model._answered(self)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_api_error(
        self,
        status: int,
        message: str,
        error_type: str,
        code: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_json(status, error_body(message, error_type, code), extra_headers)

    def send_scripted_status(self, status: int, retry_after: float | None) -> None:
        """A step's scripted HTTP error, with Retry-After when the step names one."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        code = "rate_limit_exceeded" if status == 429 else None
        message = f"scripted {status} {_status_phrase(status)}"
        self.send_api_error(status, message, "server_error", code, headers)


def endpoint_of(method: str, path: str) -> str | None:
    if method == "POST" and path.endswith("/chat/completions"):
        return "chat"
    if method == "POST" and path.endswith("/responses"):
        return "responses"
    if method == "GET" and path.endswith("/models"):
        return "models"
    return None


def read_json_body(handler: _Handler) -> tuple[Any, str | None]:
    length_header = handler.headers.get("Content-Length")
    if length_header is None or not length_header.isdigit():
        handler.close_connection = True
        return None, "request needs a Content-Length"
    length = int(length_header)
    if length > MAX_REQUEST_BYTES:
        handler.close_connection = True
        return None, f"request body of {length} bytes is too large"
    data = handler.rfile.read(length)
    try:
        return json.loads(data), None
    except (UnicodeDecodeError, ValueError):
        return None, "request body is not valid JSON"


def hang_until_closed(handler: _Handler, stopping: threading.Event) -> None:
    """Answer nothing until the client disconnects or the server stops."""
    handler.close_connection = True
    connection = handler.connection
    while not stopping.is_set():
        readable, _, _ = select.select([connection], [], [], HANG_POLL_S)
        if not readable:
            continue
        try:
            if not connection.recv(1, socket.MSG_PEEK):
                return
        except OSError:
            return
        # Unexpected extra bytes from the client: keep hanging without spinning.
        stopping.wait(HANG_POLL_S)
