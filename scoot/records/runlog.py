"""The human run log: `[scoot] ...` lines for the scheduler, progress lines for `-e`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from scoot.shared.terminal import printable, shorten
from scoot.supervise.runner import Outcome, RunRequest


def _stderr(text: str) -> None:
    print(printable(text), file=sys.stderr, flush=True)


class RunLog:
    """The human run log: `[scoot] ...` lines on stdout, warnings on stderr."""

    def __init__(self, out: Callable[[str], None], err: Callable[[str], None]) -> None:
        # Goals, answers and errors carry model text: a reader sees its control characters.
        self.out: Callable[[str], None] = lambda text: out(printable(text))
        self.err: Callable[[str], None] = lambda text: err(printable(text))

    def started(self, request: RunRequest) -> None:
        who = f"job {request.job_id}" if request.job_id else "run"
        self.out(f"[scoot] {who} started (mode={request.mode}): {shorten(request.goal, 120)}")
        if request.mode == "unrestricted" and request.origin != "cli":
            self.warn(f"{who} runs unrestricted: it may write files and use the network unattended")

    def step(self, request: RunRequest, kind: str, msg: str) -> None: ...

    def ended(self, request: RunRequest, outcome: Outcome) -> None:
        who = f"job {request.job_id}" if request.job_id else "run"
        if outcome.status == "ok":
            self.out(f"[scoot] {who} OK: {shorten(outcome.answer or '', 400)}")
        else:
            self.out(
                f"[scoot] {who} failed ({outcome.status}): {shorten(outcome.error or '', 400)}; continuing"
            )

    def warn(self, text: str) -> None:
        self.err(f"[scoot] warning: {text}")


class TraceLog(RunLog):
    """`-e` progress on stderr: nothing on stdout but the answer."""

    def __init__(self, trace: bool) -> None:
        super().__init__(_stderr, _stderr)
        self.trace = trace

    def started(self, request: RunRequest) -> None:
        if self.trace:
            _stderr(f"[scoot] run {request.session_id} (mode={request.mode})")

    def step(self, request: RunRequest, kind: str, msg: str) -> None:
        if not self.trace:
            return
        if kind == "thought":
            _stderr(f"thinking: {msg}")
        elif kind == "tool_call":
            _stderr(f"running: {msg}")
        elif kind in ("observation", "policy_deny", "system_error"):
            _stderr(f"{kind}: {msg[:500]}")

    def ended(self, request: RunRequest, outcome: Outcome) -> None:
        if outcome.status != "ok":
            _stderr(f"scoot: run failed ({outcome.status}): {outcome.error}")
