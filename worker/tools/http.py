"""The http tool: GET and friends with internal addresses refused at connect time, bodies bounded."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol

from scoot.shared.policy import (
    is_internal_address,
    parse_ip_literal,
)
from worker.tools.base import BINARY_SNIFF_BYTES, ToolError

if TYPE_CHECKING:
    import urllib.request


_HTTP_HEADERS_SHOWN = ("content-type", "content-length", "location", "last-modified", "etag")


def _checked_connection(block_internal: bool) -> Callable[..., socket.socket]:
    """socket.create_connection, refusing internal addresses after DNS when blocking.

    Resolving here and connecting to the checked address (not resolving
    again) closes the DNS-rebinding gap between check and connect. Every
    connection, redirects included, goes through it.
    """

    def connect(
        address: tuple[str, int],
        timeout: object = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        # http.client passes a float, or its "no timeout given" sentinel object.
        seconds = float(timeout) if isinstance(timeout, (int, float)) else None
        host, port = address
        if not block_internal:
            return socket.create_connection(address, seconds, source_address)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise ToolError(f"cannot resolve host {host}: {error.strerror}") from None
        for *_, sockaddr in infos:
            ip = parse_ip_literal(str(sockaddr[0]))
            if ip is None or is_internal_address(ip):
                raise ToolError(
                    f"refused: {host} resolves to internal address {sockaddr[0]} "
                    "(block_internal_http is on)"
                )
        last_error: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(seconds)
                sock.connect(sockaddr)
                return sock
            except OSError as error:
                sock.close()
                last_error = error
        raise last_error or OSError(f"cannot connect to {host}")

    return connect


def _opener(block_internal: bool) -> urllib.request.OpenerDirector:
    # Imported here: most runs never make a request, and every run pays for imports.
    import urllib.request

    connect = _checked_connection(block_internal)

    class CheckedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class CheckedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(CheckedHTTPConnection, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(CheckedHTTPSConnection, req)

    class RedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: http.client.HTTPMessage,
            newurl: str,
        ) -> urllib.request.Request | None:
            if not newurl.lower().startswith(("http://", "https://")):
                raise ToolError(f"refused redirect to a non-http URL: {newurl[:80]}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    # Built by hand so only http(s) is reachable (no file:, ftp:, data:) and
    # environment proxies are ignored when blocking: the connect-time check
    # must see the real destination, not a proxy.
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        HTTPHandler(),
        HTTPSHandler(),
        RedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    if not block_internal:
        handlers.insert(0, urllib.request.ProxyHandler())
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def http_request(
    method: str,
    url: str,
    *,
    body: str | None,
    headers: Mapping[str, str],
    timeout_s: float,
    max_output_bytes: int,
    block_internal: bool,
) -> str:
    """Make one request; return status line, selected headers and at most `max_output_bytes` of body."""
    import urllib.error
    import urllib.request

    data = body.encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if not request.has_header("User-agent"):
        request.add_header("User-Agent", "scoot")
    deadline = time.monotonic() + timeout_s
    try:
        response = _opener(block_internal).open(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        response = error  # a status to report, not a failure of the tool
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ToolError):
            raise reason from None
        text = getattr(reason, "strerror", None) or str(reason)
        raise ToolError(f"{method} {url[:200]} failed: {text}") from None
    except TimeoutError:
        raise ToolError(f"{method} {url[:200]} timed out after {timeout_s:g}s") from None
    except (http.client.HTTPException, OSError, ValueError) as error:
        raise ToolError(f"{method} {url[:200]} failed: {error}") from None
    with contextlib.closing(response):
        status = getattr(response, "status", None) or response.getcode()
        reason = getattr(response, "reason", "") or ""
        lines = [f"HTTP {status} {reason}".rstrip()]
        for name in _HTTP_HEADERS_SHOWN:
            value = response.headers.get(name)
            if value is not None:
                lines.append(f"{name}: {value}")
        if method == "HEAD":
            return "\n".join(lines)
        payload, truncated = _read_bounded(response, max_output_bytes, deadline, timeout_s)
    charset = response.headers.get_content_charset() or "utf-8"
    if b"\x00" in payload[:BINARY_SNIFF_BYTES]:
        text = f"[binary body, {len(payload)} bytes not shown]"
    else:
        try:
            text = payload.decode(charset, errors="replace")
        except LookupError:
            text = payload.decode("utf-8", errors="replace")
    if truncated:
        text += f"\n[body truncated after {max_output_bytes} bytes]"
    return "\n".join(lines) + "\n\n" + text


class _Body(Protocol):
    def read(self, amount: int, /) -> bytes: ...


def _read_bounded(
    response: _Body, limit: int, deadline: float, timeout_s: float
) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, giving up at `deadline` (slow servers)."""
    chunks = bytearray()
    while len(chunks) <= limit:
        if time.monotonic() > deadline:
            raise ToolError(f"response body timed out after {timeout_s:g}s")
        try:
            chunk = response.read(min(65536, limit + 1 - len(chunks)))
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            raise ToolError(f"reading the response failed: {error}") from None
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks[:limit]), len(chunks) > limit
