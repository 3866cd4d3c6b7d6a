"""The agent's tools: run one allowed action and return its observation text.

The policy gate has already allowed the action; these functions only do it,
within hard bounds (time, bytes, match counts). A problem the model caused
(missing file, bad regex, refused connection) raises ToolError with one
line; the agent loop shows it as `error: ...`.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import selectors
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol

from scoot.shared.actions import ParsedAction
from scoot.shared.policy import (
    ProtectedPaths,
    is_internal_address,
    match_problem,
    parse_ip_literal,
)

if TYPE_CHECKING:
    import urllib.request
    from email.message import Message

MAX_GREP_MATCHES = 200
MAX_GLOB_RESULTS = 500
MAX_LINE_CHARS = 500
# Bytes of one line kept for grep; the rest of a longer line is skipped.
MAX_LINE_BYTES = 64 * 1024
BINARY_SNIFF_BYTES = 8 * 1024
MAX_EDIT_BYTES = 16 * 1024 * 1024
# Output still buffered in the pipe when the shell exits is collected for this long.
_DRAIN_AFTER_EXIT_S = 0.2
_SECRET_ENV_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
_SECRET_ENV_NAMES = frozenset({"SSH_AUTH_SOCK"})
_HTTP_HEADERS_SHOWN = ("content-type", "content-length", "location", "last-modified", "etag")


class ToolError(Exception):
    """A failed action the model can correct; the message is one line."""


def run_tool(
    parsed: ParsedAction,
    *,
    cwd: str,
    timeout_s: float,
    max_output_bytes: int = 64 * 1024,
    block_internal_http: bool = True,
    scrub_env: Iterable[str] = (),
    protected: ProtectedPaths | None = None,
) -> str:
    """Run `parsed` in `cwd` and return the observation text (ToolError on bad input).

    `protected` (given outside unrestricted) filters glob matches through the
    gate's rules: the gate checked the pattern, each match is checked here.
    """
    args = parsed.args
    deadline = time.monotonic() + timeout_s
    if parsed.action == "bash":
        return run_bash(
            args["command"],
            cwd=cwd,
            timeout_s=timeout_s,
            max_output_bytes=max_output_bytes,
            env=scrubbed_environment(os.environ, scrub_env),
        )
    if parsed.action == "file_read":
        return read_file(cwd, args["path"], args["start"], args["end"], max_output_bytes)
    if parsed.action == "file_write":
        return write_file(cwd, args["path"], args["content"])
    if parsed.action == "file_edit":
        return edit_file(cwd, args["path"], args["old"], args["new"])
    if parsed.action == "grep":
        return grep_file(cwd, args["pattern"], args["path"], args["context"], deadline)
    if parsed.action == "glob":
        return glob_files(cwd, args["pattern"], deadline, protected)
    if parsed.action == "http_request":
        return http_request(
            args["method"],
            args["url"],
            body=args["body"],
            headers=args["headers"],
            timeout_s=timeout_s,
            max_output_bytes=max_output_bytes,
            block_internal=block_internal_http,
        )
    if parsed.action == "final":
        return str(args["answer"])
    raise ToolError(f"no tool for action {parsed.action!r}")


def clip_observation(text: str, limit: int) -> str:
    """`text` cut to about `limit` chars, keeping head and tail and saying how much went."""
    if limit <= 0 or len(text) <= limit:
        return text
    # The marker's own length depends on the count; budget for the widest.
    marker_budget = len(f"\n... [clipped {len(text)} chars] ...\n")
    keep = limit - marker_budget
    if keep <= 0:
        return text[:limit]
    head = keep * 2 // 3
    tail = keep - head
    clipped = len(text) - head - tail
    tail_text = text[-tail:] if tail else ""
    return f"{text[:head]}\n... [clipped {clipped} chars] ...\n{tail_text}"


# --- bash -------------------------------------------------------------------


def scrubbed_environment(environ: Mapping[str, str], extra_names: Iterable[str]) -> dict[str, str]:
    """`environ` without variables that look like secrets, nor the named ones."""
    extra = {name.upper() for name in extra_names if name}
    return {
        name: value
        for name, value in environ.items()
        if name.upper() not in extra
        and name.upper() not in _SECRET_ENV_NAMES
        and not any(marker in name.upper() for marker in _SECRET_ENV_MARKERS)
    }


def run_bash(
    command: str,
    *,
    cwd: str,
    timeout_s: float,
    max_output_bytes: int,
    env: Mapping[str, str],
) -> str:
    """Run `command` with /bin/sh in its own process group and report output and status.

    Output past `max_output_bytes` is read and discarded rather than left in
    the pipe, so the command runs to its natural end instead of blocking on
    a full pipe; the timeout bounds the cost. When the shell exits, or the
    timeout expires, the whole process group is killed, so nothing it
    started in the background outlives the call.
    """
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env),
            close_fds=True,
        )
    except OSError as error:
        raise ToolError(f"cannot start /bin/sh in {cwd}: {error.strerror or error}") from None
    assert process.stdout is not None
    captured = bytearray()
    discarded = 0
    timed_out = False
    deadline = time.monotonic() + timeout_s
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(process.stdout.close)
        exit_watch = _exit_watcher(process.pid)
        if exit_watch is not None:
            cleanup.callback(os.close, exit_watch)
        for chunk in _read_until_exit(process, exit_watch, deadline):
            room = max_output_bytes - len(captured)
            captured += chunk[:room]
            discarded += max(0, len(chunk) - room)
        timed_out = not _has_exited(process.pid)
        _kill_group(process.pid)
        process.wait()
    text = captured.decode("utf-8", errors="replace")
    if discarded:
        text += f"\n[output truncated: {discarded} more bytes not shown]"
    if timed_out:
        status = f"timed out after {timeout_s:g}s (process group killed)"
    elif process.returncode < 0:
        status = f"killed by signal {_signal_name(-process.returncode)}"
    else:
        status = f"exit code {process.returncode}"
    separator = "\n" if text and not text.endswith("\n") else ""
    return f"{text}{separator}[{status}]"


def _exit_watcher(pid: int) -> int | None:
    """A pidfd that becomes readable when `pid` exits, where the kernel has them."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Whether `pid` has exited, leaving it unreaped so its group id stays reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _read_until_exit(
    process: subprocess.Popen[bytes], exit_watch: int | None, deadline: float
) -> Iterator[bytes]:
    """Chunks of the merged output until the shell exits (plus a short drain) or the deadline.

    The shell is left unreaped, so its pid, which is also the group id,
    cannot be reused before the caller kills the group.
    """
    assert process.stdout is not None
    out_fd = process.stdout.fileno()
    os.set_blocking(out_fd, False)
    with selectors.DefaultSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ, "out")
        if exit_watch is not None:
            selector.register(exit_watch, selectors.EVENT_READ, "exit")
        output_open = True
        drain_until: float | None = None
        while True:
            now = time.monotonic()
            stop_at = deadline if drain_until is None else min(deadline, drain_until)
            if now >= stop_at:
                return
            # Without a pidfd, poll for the exit between reads.
            wait = stop_at - now if exit_watch is not None else min(stop_at - now, 0.05)
            for key, _ in selector.select(wait):
                if key.data == "exit":
                    selector.unregister(key.fd)
                    drain_until = time.monotonic() + _DRAIN_AFTER_EXIT_S
                    continue
                try:
                    chunk = os.read(out_fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    yield chunk
                else:
                    # Every writer closed the pipe: nothing more to read.
                    selector.unregister(out_fd)
                    output_open = False
            if drain_until is None and exit_watch is None and _has_exited(process.pid):
                drain_until = time.monotonic() + _DRAIN_AFTER_EXIT_S
            if drain_until is not None and not output_open:
                return


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


# --- files ------------------------------------------------------------------


def _resolve(cwd: str, path: str) -> Path:
    return Path(cwd, path)


def _read_bytes_checked(cwd: str, path: str) -> bytes:
    """The file's bytes (at most MAX_EDIT_BYTES + 1), with one-line errors for the usual mistakes."""
    target = _resolve(cwd, path)
    try:
        with target.open("rb") as handle:
            return handle.read(MAX_EDIT_BYTES + 1)
    except FileNotFoundError:
        raise ToolError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory; use glob to list it") from None
    except PermissionError:
        raise ToolError(f"permission denied: {path}") from None
    except OSError as error:
        raise ToolError(f"cannot read {path}: {error.strerror or error}") from None


def _open_text_checked(cwd: str, path: str) -> BinaryIO:
    """`path` opened for reading, after refusing directories and binary files."""
    target = _resolve(cwd, path)
    try:
        handle = target.open("rb")
    except FileNotFoundError:
        raise ToolError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory; use glob to list it") from None
    except PermissionError:
        raise ToolError(f"permission denied: {path}") from None
    except OSError as error:
        raise ToolError(f"cannot read {path}: {error.strerror or error}") from None
    head = handle.read(BINARY_SNIFF_BYTES)
    if b"\x00" in head:
        handle.close()
        raise ToolError(f"{path} looks like a binary file; only text files can be read")
    handle.seek(0)
    return handle


def _capped_lines(handle: BinaryIO, cap: int) -> Iterator[bytes]:
    """The file's lines, each cut to at most `cap` bytes, so one huge line cannot fill memory."""
    while True:
        line = handle.readline(cap)
        if not line:
            return
        if len(line) == cap and not line.endswith(b"\n"):
            # Skip the rest of an overlong line, chunk by chunk.
            rest = handle.readline(65536)
            while rest and not rest.endswith(b"\n"):
                rest = handle.readline(65536)
        yield line


def read_file(cwd: str, path: str, start: int | None, end: int | None, max_bytes: int) -> str:
    """The text of `path`, or lines start..end (1-based, inclusive), at most `max_bytes`."""
    with _open_text_checked(cwd, path) as handle:
        if start is None and end is None:
            data = handle.read(max_bytes + 1)
            if len(data) <= max_bytes:
                return data.decode("utf-8", errors="replace")
            size = os.fstat(handle.fileno()).st_size
            return data[:max_bytes].decode("utf-8", errors="replace") + (
                f"\n[truncated: showed the first {max_bytes} of {size} bytes; "
                'read on with {"path": ..., "start": N, "end": M}]'
            )
        first = start or 1
        selected: list[bytes] = []
        size = 0
        count = 0
        truncated = False
        for number, line in enumerate(_capped_lines(handle, max_bytes + 1), start=1):
            count = number
            if number < first:
                continue
            if end is not None and number > end:
                break
            if size + len(line) > max_bytes:
                truncated = True
                break
            selected.append(line)
            size += len(line)
    if count < first:
        raise ToolError(f"{path} has only {count} lines; start {first} is past its end")
    text = b"".join(selected).decode("utf-8", errors="replace")
    last = first + len(selected) - 1
    note = f"[{path} lines {first}-{last}]"
    if truncated:
        note += f" [stopped after {max_bytes} bytes; continue from line {last + 1}]"
    return f"{note}\n{text}"


def _write_atomically(target: Path, data: bytes, shown: str) -> None:
    """Replace `target` with `data` via a temporary file in the same directory."""
    parent = target.parent
    if not parent.is_dir():
        missing = os.path.dirname(shown.rstrip("/")) or str(parent)
        raise ToolError(f"directory does not exist: {missing} (create it first)")
    if target.is_dir():
        raise ToolError(f"{shown} is a directory")
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        mode = None
    temp = parent / f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        # 0o666 lets the umask decide a new file's mode, as for any other tool.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError:
        raise ToolError(f"permission denied: cannot write in the directory of {shown}") from None
    except OSError as error:
        raise ToolError(f"cannot write {shown}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise ToolError(f"cannot write {shown}: {error.strerror or error}") from None


def write_file(cwd: str, path: str, content: str) -> str:
    """Create or replace `path` with `content` (UTF-8), atomically."""
    data = content.encode("utf-8")
    _write_atomically(_resolve(cwd, path), data, path)
    return f"wrote {len(data)} bytes to {path}"


def edit_file(cwd: str, path: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` in `path` with `new`."""
    data = _read_bytes_checked(cwd, path)
    if len(data) > MAX_EDIT_BYTES:
        raise ToolError(f"{path} is too large to edit ({len(data)} bytes; limit {MAX_EDIT_BYTES})")
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise ToolError(f"{path} looks like a binary file; only text files can be edited")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not UTF-8 text; it cannot be edited") from None
    count = text.count(old)
    if count != 1:
        hint = "add surrounding lines to make it unique" if count else "copy it exactly"
        raise ToolError(
            f"old text found {count} times in {path}; it must match exactly once ({hint})"
        )
    updated = text.replace(old, new, 1).encode("utf-8")
    _write_atomically(_resolve(cwd, path), updated, path)
    return f"edited {path}: replaced 1 occurrence ({len(data)} -> {len(updated)} bytes)"


def grep_file(cwd: str, pattern: str, path: str, context: int, deadline: float) -> str:
    """Lines of `path` matching the regex, numbered (`N:` match, `N-` context).

    The deadline is checked between lines; one pathological regex on one
    line cannot be interrupted in-process, which the run's own timeout bounds.
    """
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ToolError(f"bad regex {pattern!r}: {error}") from None
    output: list[str] = []
    before: deque[tuple[int, str]] = deque(maxlen=context)
    after_left = 0
    last_printed = 0
    matches = 0
    with _open_text_checked(cwd, path) as handle:
        lines = _capped_lines(handle, MAX_LINE_BYTES)
        for number, raw in enumerate(lines, start=1):
            if number % 1024 == 0 and time.monotonic() > deadline:
                raise ToolError(f"grep timed out in {path} at line {number}")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if regex.search(line):
                matches += 1
                if matches <= MAX_GREP_MATCHES:
                    if context and output and before and before[0][0] > last_printed + 1:
                        output.append("--")
                    for old_number, old_line in before:
                        output.append(f"{old_number}- {_clip_line(old_line)}")
                    output.append(f"{number}: {_clip_line(line)}")
                    before.clear()
                    last_printed = number
                    after_left = context
                continue
            if after_left and matches <= MAX_GREP_MATCHES:
                output.append(f"{number}- {_clip_line(line)}")
                last_printed = number
                after_left -= 1
            elif context:
                before.append((number, line))
    if not matches:
        return f"no matches for {pattern!r} in {path}"
    if matches > MAX_GREP_MATCHES:
        output.append(f"[{matches - MAX_GREP_MATCHES} more matches not shown]")
    return "\n".join(output)


def _clip_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]}... [{len(line) - MAX_LINE_CHARS} more chars]"


def glob_files(
    cwd: str, pattern: str, deadline: float, protected: ProtectedPaths | None = None
) -> str:
    """Sorted paths under `cwd` matching the relative `pattern` (`**` recurses).

    With `protected` (every mode but unrestricted) a match is listed only when
    it passes the gate's path rules once resolved; the others are counted.
    """
    if pattern.startswith("/") or pattern.startswith("~"):
        raise ToolError(f"glob needs a pattern relative to the working directory, got {pattern!r}")
    if ".." in Path(pattern).parts:
        raise ToolError(f"glob pattern {pattern!r} must not leave the working directory (..)")
    root = Path(os.path.realpath(cwd))
    found: list[str] = []
    withheld = 0
    try:
        for match in root.glob(pattern):
            if time.monotonic() > deadline:
                raise ToolError(f"glob {pattern!r} timed out after {len(found)} matches")
            if protected is not None:
                if match_problem(str(root), str(match), protected) is not None:
                    withheld += 1
                    continue
            else:
                # Symlinks inside cwd may lead out of it: list only what really lies inside.
                real = os.path.realpath(match)
                if real != str(root) and not real.startswith(str(root).rstrip("/") + "/"):
                    continue
            relative = match.relative_to(root).as_posix()
            found.append(relative + "/" if match.is_dir() else relative)
    except ValueError as error:
        raise ToolError(f"bad glob pattern {pattern!r}: {error}") from None
    except OSError as error:
        raise ToolError(f"glob {pattern!r} failed: {error.strerror or error}") from None
    note = (
        f"\n[{withheld} matches withheld: outside the working directory, sensitive or protected]"
        if withheld
        else ""
    )
    if not found:
        return f"no files match {pattern!r}" + note
    found.sort()
    shown = found[:MAX_GLOB_RESULTS]
    more = len(found) - len(shown)
    return "\n".join(shown) + (f"\n[{more} more not shown]" if more else "") + note


# --- http -------------------------------------------------------------------


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
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self._create_connection = connect

    class CheckedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
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
            headers: Message,
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
