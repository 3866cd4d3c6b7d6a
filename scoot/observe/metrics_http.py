"""GET /metrics served from the scheduler loop's own selector: no threads, never blocking.

The daemon forks workers, and threads and fork do not mix; so the listening
socket and each connection are non-blocking and owned by the loop. A scraper
that connects and never sends, sends slowly, or never reads gets its bounded
buffers, its deadline and then a closed socket; the loop never waits on it.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Callable

from scoot.errors import ConfigError, ScootError

MAX_CONNECTIONS = 16  # more at once are refused (closed at accept)
MAX_REQUEST_BYTES = 8 * 1024  # a request head longer than this is answered 431
CONNECTION_DEADLINE_SEC = 5.0  # a connection still open this long after accept is closed
SEND_CHUNK = 64 * 1024
ACCEPTS_PER_WAKE = 16  # a flood of connects cannot hold the loop in accept()
# A scrape that would render while a fire is due waits for the fire, at most this long.
MAX_DEFER_SEC = 2.0
DEFER_RECHECK_SEC = 0.02


def parse_listen(text: str) -> tuple[str, int]:
    """'host:port' (IPv6 as '[::1]:port') -> (host, port); ConfigError when it is not one."""
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(
            f"[metrics] listen must be host:port (e.g. 127.0.0.1:9464), got {text!r}; fix it in the config"
        )
    return host, int(port_text)


class _Connection:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.inbox = bytearray()
        self.outbox = b""
        self.sent = 0
        self.answered = False
        self.head_only = False
        self.parked_at: float | None = None  # waiting for a due fire before rendering


class MetricsServer:
    """A tiny HTTP/1.0 responder for GET /metrics, driven by selector events."""

    def __init__(
        self,
        host: str,
        port: int,
        render: Callable[[], bytes],
        *,
        may_render: Callable[[float], bool] = lambda _cost: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`may_render(cost)`: whether `cost` seconds of rendering now would delay no fire."""
        self._render = render
        self._may_render = may_render
        self.render_cost = 0.0  # a recent rendering's seconds, decaying
        self._parked: list[_Connection] = []
        self._clock = clock
        self._selector: selectors.BaseSelector | None = None
        self._conns: dict[int, _Connection] = {}
        self.scrapes = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            why = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                why += "; another process listens there: pick another [metrics] listen port"
            elif exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
                why += "; use an address of this machine in [metrics] listen"
            raise ScootError(f"cannot serve metrics on {host}:{port}: {why}") from None
        sock.setblocking(False)
        self.sock = sock

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    # -- the loop's endpoint interface ---------------------------------------
    def attach(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        selector.register(self.sock, selectors.EVENT_READ, self._on_listen)

    def next_deadline(self) -> float | None:
        if self._parked:
            return self._clock() + DEFER_RECHECK_SEC
        return min((c.deadline for c in self._conns.values()), default=None)

    def expire(self) -> None:
        now = self._clock()
        for conn in [c for c in self._conns.values() if c.deadline <= now]:
            self._close(conn)
        for conn in list(self._parked):
            waited = now - (conn.parked_at or now)
            if conn.sock.fileno() < 0:
                self._parked.remove(conn)
            elif waited >= MAX_DEFER_SEC or self._may_render(self.render_cost):
                self._parked.remove(conn)
                self._answer(conn, 200, self._scrape(conn))

    def close(self) -> None:
        for conn in list(self._conns.values()):
            self._close(conn)
        self._unregister(self.sock)
        self.sock.close()

    # -- events ---------------------------------------------------------------
    def _on_listen(self, _mask: int) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                sock, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # ECONNABORTED, EMFILE: the next wake tries again
            if len(self._conns) >= MAX_CONNECTIONS:
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Connection(sock, self._clock() + CONNECTION_DEADLINE_SEC)
            self._conns[sock.fileno()] = conn
            assert self._selector is not None
            self._selector.register(
                sock, selectors.EVENT_READ, lambda mask, c=conn: self._on(c, mask)
            )

    def _on(self, conn: _Connection, mask: int) -> None:
        if mask & selectors.EVENT_READ and not conn.answered:
            self._read(conn)
        if conn.answered and mask & selectors.EVENT_WRITE:
            self._write(conn)

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        conn.inbox += data
        head_end = conn.inbox.find(b"\r\n\r\n")
        if head_end < 0:
            head_end = conn.inbox.find(b"\n\n")
        if head_end < 0:
            if len(conn.inbox) > MAX_REQUEST_BYTES:
                self._answer(conn, 431, b"request header too large\n")
            return
        answer = self._respond(conn, bytes(conn.inbox[:head_end]))
        if answer is not None:
            self._answer(conn, *answer)
        elif self._may_render(self.render_cost):
            self._answer(conn, 200, self._scrape(conn))
        else:  # a fire is due before a rendering would end: expire() serves it after the fire
            conn.parked_at = self._clock()
            conn.answered = True
            assert self._selector is not None
            self._selector.unregister(conn.sock)
            self._parked.append(conn)

    def _scrape(self, conn: _Connection) -> bytes:
        started = self._clock()
        body = self._render()
        self.render_cost = max(self._clock() - started, self.render_cost * 0.5)
        self.scrapes += 1
        return b"" if conn.head_only else body

    def _respond(self, conn: _Connection, head: bytes) -> tuple[int, bytes] | None:
        """The answer to a request that is not a scrape; None for GET or HEAD /metrics."""
        request_line = head.split(b"\n", 1)[0].strip()
        parts = request_line.split()
        if len(parts) < 2:
            return 400, b"bad request\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return 405, b"only GET /metrics is served\n"
        if target != b"/metrics":
            return 404, b"not found: scrape /metrics\n"
        conn.head_only = method == b"HEAD"
        return None

    def _answer(self, conn: _Connection, code: int, body: bytes) -> None:
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            405: "Method Not Allowed",
            431: "Request Header Fields Too Large",
        }[code]
        ctype = "text/plain; version=0.0.4; charset=utf-8" if code == 200 else "text/plain"
        head = (
            f"HTTP/1.0 {code} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        conn.outbox = head + body
        conn.answered = True
        assert self._selector is not None
        events, callback = selectors.EVENT_WRITE, (lambda mask, c=conn: self._on(c, mask))
        if conn.parked_at is None:
            self._selector.modify(conn.sock, events, callback)
        else:  # unregistered while it waited
            self._selector.register(conn.sock, events, callback)
        self._write(conn)

    def _write(self, conn: _Connection) -> None:
        try:
            while conn.sent < len(conn.outbox):
                conn.sent += conn.sock.send(conn.outbox[conn.sent : conn.sent + SEND_CHUNK])
        except (BlockingIOError, InterruptedError):
            return  # the kernel buffer is full: wait for the next EVENT_WRITE
        except OSError:
            self._close(conn)
            return
        self._close(conn)

    def _close(self, conn: _Connection) -> None:
        fd = conn.sock.fileno()
        if fd >= 0 and self._conns.pop(fd, None) is not None:
            self._unregister(conn.sock)
        conn.sock.close()

    def _unregister(self, sock: socket.socket) -> None:
        """Stop watching `sock`; one the loop no longer watches is fine."""
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
