"""A webhook receiver on loopback for the notification tests: it records every
request and answers from a script (a status code, or a hang of N seconds)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Received:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.at = time.time()

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def verify_signature(
    secret: str, header: str, body: bytes, now: float, tolerance: float = 300
) -> bool:
    """The receiver's side of X-Scoot-Signature, written from the documented scheme."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    stamp = int(fields["t"])
    expected = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256)
    return abs(now - stamp) <= tolerance and hmac.compare_digest(expected.hexdigest(), fields["v1"])


class Receiver:
    """`answer(received) -> status or ("hang", seconds)`; 200 by default."""

    def __init__(self, answer: Callable[[Received], Any] | None = None) -> None:
        self.answer = answer or (lambda _r: 200)
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                got = Received(self.command, self.path, dict(self.headers.items()), body)
                with outer.lock:
                    outer.requests.append(got)
                reply = outer.answer(got)
                if isinstance(reply, tuple) and reply[0] == "hang":
                    outer.stopping.wait(reply[1])
                    reply = 200
                try:
                    self.send_response(int(reply))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            do_GET = _handle
            do_POST = _handle
            do_HEAD = _handle

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def posts(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def gets(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.method == "GET"]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
