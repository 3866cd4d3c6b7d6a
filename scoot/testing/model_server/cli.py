"""Serving a script from the command line (`scoot serve-model`, `python -m scoot.testing`) until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from scoot.testing.model_server.script import ScriptError, load_script
from scoot.testing.model_server.server import ScriptedModel

MAX_PORT = 65535


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class _StopSignal:
    event: threading.Event

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()


def serve_forever(script_path: str | Path, host: str = "127.0.0.1", port: int = 0) -> int:
    """Serve a script file until SIGTERM or SIGINT; returns the exit code (0, 1 or 2)."""
    if not 0 <= port <= MAX_PORT:
        _stderr_line(f"scoot: invalid port {port}: use a number from 0 to 65535")
        return 2
    try:
        script = load_script(script_path)
    except ScriptError as error:
        _stderr_line(f"scoot: {error}")
        return 2
    model = ScriptedModel(script, host, port, log=_stderr_line)
    try:
        model.start()
    except OSError as error:
        reason = error.strerror or str(error)
        _stderr_line(
            f"scoot: cannot listen on {host}:{port} ({reason}); choose another --host or --port"
        )
        return 1
    stop_requested = threading.Event()
    previous = {
        signum: signal.signal(signum, _StopSignal(stop_requested))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        # Nobody reading stdout is no reason to stop serving.
        with contextlib.suppress(OSError):
            print(f"scripted model listening on {model.base_url}", flush=True)
        # A signal does not cut a timed wait short, so wait in short slices.
        while not stop_requested.wait(0.1):
            pass
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        model.stop()
    return 0
