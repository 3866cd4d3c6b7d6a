"""The courier: one process, forked from the parent, that makes delivery attempts.

The supervisor loop never waits on a network peer or a target's command: it
writes requests to the courier's pipe without blocking and reads results the
same way. The courier runs each attempt in a thread of its own (it is a
separate process, so the parent stays single-threaded for its forks), under
the operator's own rights, never inside a job's sandbox. It writes nothing
durable: results go back to the parent, which alone updates the outbox.

Why a process and not non-blocking sockets in the loop: name resolution and
TLS handshakes block in the standard library, and command targets need a
child anyway (see docs/notifications.md for the measurement).
"""

from __future__ import annotations

import base64
import errno
import os
import signal
import threading
from typing import Any

import orjson

from scoot.shared.fdio import write_all
from scoot.supervise.procs import read_stat

MAX_IN_FLIGHT = 16  # attempts the courier makes at once
REPLY_BYTES = 64 * 1024  # of a receiver's reply, read and dropped
ERROR_CHARS = 300


def attempt(request: dict[str, Any]) -> dict[str, Any]:
    """Make one attempt; {"id", "ok", "error", "http_status"}. Never raises."""
    # Here, not at the top: every parent that may fork a courier would import ssl.
    import http.client
    import ssl
    import subprocess
    import urllib.error
    import urllib.request

    result: dict[str, Any] = {"id": request["id"], "ok": False, "error": None, "http_status": None}
    body = base64.b64decode(request.get("body") or "")
    timeout = float(request.get("timeout_sec") or 10)
    try:
        if request.get("command"):
            done = subprocess.run(
                list(request["command"]),
                input=body,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
                close_fds=True,
            )
            if done.returncode == 0:
                result["ok"] = True
            else:
                tail = done.stderr.decode("utf-8", "replace").strip().splitlines()
                result["error"] = f"command exited {done.returncode}" + (
                    f": {tail[-1][:ERROR_CHARS]}" if tail else ""
                )
            return result
        outgoing = urllib.request.Request(
            request["url"],
            data=body if request.get("method", "POST") == "POST" else None,
            headers=dict(request.get("headers") or {}),
            method=request.get("method", "POST"),
        )
        context = ssl.create_default_context()  # certificates and host names verified
        with urllib.request.urlopen(outgoing, timeout=timeout, context=context) as reply:
            reply.read(REPLY_BYTES)
            result["http_status"] = reply.status
            result["ok"] = 200 <= reply.status < 300
            if not result["ok"]:
                result["error"] = f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        result["http_status"] = exc.code
        result["error"] = f"HTTP {exc.code} {exc.reason}"[:ERROR_CHARS]
    except subprocess.TimeoutExpired:
        result["error"] = f"command timed out after {timeout:g} s (timeout_sec)"
    except TimeoutError:
        result["error"] = f"timed out after {timeout:g} s (timeout_sec)"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            result["error"] = f"timed out after {timeout:g} s (timeout_sec)"
        else:
            result["error"] = f"cannot connect: {reason}"[:ERROR_CHARS]
    except (OSError, ValueError, http.client.HTTPException) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    return result


def complete_objects(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The JSON objects of the complete lines in `buffer`, and what follows the last
    newline (a line still arriving). Anything else on a line is skipped."""
    *lines, rest = buffer.split(b"\n")
    found: list[dict[str, Any]] = []
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found, rest


def courier_main(requests_fd: int, results_fd: int) -> None:
    """The courier's body: read request lines, attempt each in a thread, write result lines."""
    slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
    write_lock = threading.Lock()

    def work(request: dict[str, Any]) -> None:
        try:
            result = attempt(request)
        finally:
            slots.release()
        line = orjson.dumps(result) + b"\n"
        with write_lock:
            try:
                write_all(results_fd, line)
            except OSError:
                os._exit(0)  # the parent is gone

    buffer = b""
    while True:
        try:
            chunk = os.read(requests_fd, 65536)
        except InterruptedError:
            continue
        if not chunk:
            os._exit(0)
        requests, buffer = complete_objects(buffer + chunk)
        for request in requests:
            slots.acquire()
            threading.Thread(target=work, args=(request,), daemon=True).start()


class Courier:
    """The parent's side: a forked courier and its two non-blocking pipes."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._start_ticks: int | None = None  # the pid is the courier only while this matches
        self._requests_w: int | None = None
        self._results_r: int | None = None
        self._out = b""  # request bytes the pipe would not take yet
        self._in = b""

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def results_fd(self) -> int | None:
        return self._results_r

    def start(self) -> int:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the courier
            try:
                os.close(req_w)
                os.close(res_r)
                for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                    signal.signal(signum, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when it ends
                signal.set_wakeup_fd(-1)
                from scoot.supervise.fds import close_fds_except

                close_fds_except({0, 1, 2, req_r, res_w})
                try:
                    from setproctitle import setproctitle

                    setproctitle("scoot: notify courier")
                except ImportError:
                    pass
                courier_main(req_r, res_w)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(res_w)
        os.set_blocking(req_w, False)
        os.set_blocking(res_r, False)
        os.set_inheritable(req_w, False)
        os.set_inheritable(res_r, False)
        self.pid, self._requests_w, self._results_r = pid, req_w, res_r
        stat = read_stat(pid)
        self._start_ticks = stat.start_ticks if stat is not None else None
        self._out = self._in = b""
        return pid

    def send(self, request: dict[str, Any]) -> None:
        self._out += orjson.dumps(request) + b"\n"
        self._push()

    def _push(self) -> None:
        while self._out and self._requests_w is not None:
            try:
                written = os.write(self._requests_w, self._out)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    self.stop()
                return
            self._out = self._out[written:]

    def results(self) -> tuple[list[dict[str, Any]], bool]:
        """Results that have arrived, and whether the courier is gone (EOF)."""
        self._push()
        gone = False
        while self._results_r is not None:
            try:
                chunk = os.read(self._results_r, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                gone = True
                break
            self._in += chunk
        found, self._in = complete_objects(self._in)
        if gone:
            self.stop()
        return found, gone

    def _is_courier(self, pid: int) -> bool:
        """Still the courier, running or ended but not reaped (a zombie keeps its pid).

        What /proc cannot tell counts as the courier: a gone pid makes the kill and
        the wait fail harmlessly, while a courier left running would block the stop.
        """
        stat = read_stat(pid)
        if stat is None or self._start_ticks is None:
            return True
        return stat.start_ticks == self._start_ticks

    def stop(self) -> None:
        """End the courier (attempts under way are dropped: their entries stay in the outbox)."""
        for fd in (self._requests_w, self._results_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._requests_w = self._results_r = None
        # The loop's one reaper may have collected an ended courier already, and its
        # pid may since belong to another process: only the same process is ended here.
        if self.pid is not None and self._is_courier(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        self.pid = None
