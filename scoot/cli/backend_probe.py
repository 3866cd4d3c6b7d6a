"""`doctor`'s backend check: can this config reach its model server, with its token?

GET <base_url>/models first (cheap, and it lists the served models); where a
server does not serve it, one minimal completion request instead. Every
attempt is bounded by a timeout so doctor never hangs on a dead host.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from scoot import __version__
from scoot.instance.config import BackendConfig
from scoot.shared.value_class import value_class
from worker.backend import Backend, BackendError, http_failure, one_line

PROBE_BODY_BYTES = 1024 * 1024
NOT_SERVED = (404, 405, 501)


@value_class
class Probe:
    """What one backend check found; `usable` False means a run would fail on it."""

    usable: bool
    detail: str
    latency_ms: int | None = None
    warning: str | None = None  # usable, but something looks off (the model is not listed)


def probe_backend(
    backend: BackendConfig,
    token: str | None,
    *,
    timeout_sec: float,
    clock: Callable[[], float] = time.monotonic,
) -> Probe:
    parts = urlsplit(backend.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Probe(False, f"base_url {backend.base_url!r} is not an http:// or https:// URL")
    timeout = max(0.1, min(timeout_sec, backend.timeout_ms / 1000))
    url = backend.base_url.rstrip("/") + "/models"
    started = clock()
    try:
        status, reason, headers, body = _get(url, token, timeout)
    except TimeoutError:
        return Probe(False, f"no answer from {url} within {timeout:g} s; is the server up?")
    except ssl.SSLError as exc:
        return Probe(False, f"TLS with {url} failed ({one_line(str(exc))})")
    except (OSError, http.client.HTTPException) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(str(exc))
        return Probe(False, f"cannot reach {url} ({why}); start the server or fix base_url")
    latency = int((clock() - started) * 1000)
    if status == 200:
        return _listed(backend, url, body, latency, has_token=token is not None)
    if status in NOT_SERVED:
        return _minimal_request(backend, token, timeout, clock)
    failure = http_failure(
        status,
        reason,
        headers,
        body,
        base_url=backend.base_url,
        endpoint_url=url,
        model=backend.model,
        has_token=token is not None,
    )
    return Probe(False, failure.error().message, latency)


def _get(url: str, token: str | None, timeout: float) -> tuple[int, str, Any, bytes]:
    parts = urlsplit(url)
    https = parts.scheme == "https"
    connection_class = http.client.HTTPSConnection if https else http.client.HTTPConnection
    port = parts.port or (443 if https else 80)
    connection = connection_class(parts.hostname or "", port, timeout=timeout)
    headers = {"Accept": "application/json", "User-Agent": f"scoot/{__version__} doctor"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read(PROBE_BODY_BYTES)
        return response.status, response.reason, response.headers, body
    finally:
        connection.close()


def _listed(
    backend: BackendConfig, url: str, body: bytes, latency: int, *, has_token: bool
) -> Probe:
    detail = f"{url} answered in {latency} ms" + (", token accepted" if has_token else "")
    try:
        payload = json.loads(body)
        names = [m.get("id") for m in payload.get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return Probe(True, detail, latency, "its model list is not JSON; runs may still work")
    if names and backend.model not in names:
        shown = ", ".join(str(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        return Probe(
            True, detail, latency, f"model {backend.model!r} is not listed (served: {shown})"
        )
    return Probe(True, detail, latency)


def _minimal_request(
    backend: BackendConfig, token: str | None, timeout: float, clock: Callable[[], float]
) -> Probe:
    """The server has no models endpoint: ask it for one short completion instead."""
    client = Backend(
        base_url=backend.base_url,
        model=backend.model,
        api=backend.api,
        timeout_ms=max(1, int(timeout * 1000)),
        token=token,
        extra_body=backend.extra_body,
        retries=0,
    )
    started = clock()
    try:
        client.complete([{"role": "user", "content": "Reply with the word ok."}])
    except BackendError as exc:
        return Probe(False, exc.message, int((clock() - started) * 1000))
    latency = int((clock() - started) * 1000)
    return Probe(True, f"{client.endpoint_url} answered a minimal request in {latency} ms", latency)
