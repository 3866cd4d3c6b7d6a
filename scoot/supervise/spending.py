"""Backends and budgets as the loop sees them: tokens, free slots, the day's spend, allowances."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from scoot.instance.config import BackendConfig, Config, all_backends
from scoot.instance.home import Home
from scoot.records.files import tail_objects
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.jobs import Job
from scoot.shared.frames import UsageFrame
from scoot.shared.spend.backends import free_slot, priced
from scoot.shared.spend.budget import (
    allowance_for,
    cost_of,
    limits_of,
    spent_reason,
    window_from_runs,
)
from scoot.supervise.runner import ActiveRun, RunRequest

# How much of runs.jsonl's end is read at start for the last 24 hours' spend.
SPEND_TAIL_BYTES = 8 * 1024 * 1024


class Spending:
    """The last 24 hours' spend (from runs.jsonl at start, then every usage report)."""

    def __init__(
        self,
        *,
        home: Home,
        config: Config,
        token: str | None,
        recorder: Recorder,
        runlog: RunLog,
        clock: Callable[[], float],
    ) -> None:
        self.home = home
        self.config = config  # replaced on reload
        self.token = token  # the default backend's
        self.recorder = recorder
        self.runlog = runlog
        self.clock = clock
        self.spend = window_from_runs(tail_objects(home.runs, SPEND_TAIL_BYTES), clock())
        self._backend_tokens: dict[str, str | None] = {}

    def backend_free(self, request: RunRequest, running: Iterable[str]) -> bool:
        """Whether its backend's max_concurrent leaves room beside the `running` backends."""
        caps = {name: b.max_concurrent for name, b in all_backends(self.config).items()}
        return free_slot(request.backend, caps, list(running))

    def cap_of(self, backend: str) -> int:
        return all_backends(self.config)[backend].max_concurrent

    def budget_spent(self, job: Job, now: float) -> str | None:
        """Why a job's day budget forbids a start now, or None (the scheduler asks)."""
        return spent_reason(limits_of(job, self.config.budget), self.spend, job.id, now)

    def allowance(self, request: RunRequest) -> dict[str, Any]:
        """What the run may still spend, as its spec carries it."""
        return allowance_for(request.budget, self.spend, request.job_id, self.clock()).to_dict()

    def token_for(self, name: str) -> str | None:
        """The token of a named backend: the default's when it reads the same source."""
        backend = all_backends(self.config).get(name)
        if backend is None or _same_token_source(backend, self.config.backend):
            return self.token
        if name not in self._backend_tokens:
            from scoot.instance.secrets import resolve_token

            token = resolve_token(self.home, backend)
            for text in token.warnings:
                self.runlog.warn(f"backend {name}: {text}")
            self._backend_tokens[name] = token.value
            self.recorder.audit.redactor.add(token.value)
        return self._backend_tokens[name]

    def take_usage(self, run: ActiveRun, frame: UsageFrame) -> None:
        """Count an answer's tokens; end the run when it asked past its allowance."""
        backend = all_backends(self.config).get(frame.backend) or self.config.backend
        cost = None
        if priced(backend):
            cost = cost_of(
                frame.input,
                frame.output,
                backend.price_per_mtok_input,
                backend.price_per_mtok_output,
            )
        now = self.clock()
        job_id = run.request.job_id
        # A day budget other runs spent while this one ran binds it from its next answer on.
        day_spent = spent_reason(run.request.budget, self.spend, job_id or "", now)
        past = run.count_usage(frame, cost)
        self.spend.add(now, job_id, frame.input + frame.output, cost or 0.0)
        if run.over_budget is not None or run.term_sent_mono is not None:
            return
        if past:
            run.over_budget = "the worker asked the model past its budget; ended by the scheduler"
        elif day_spent is not None:
            run.over_budget = f"{day_spent} while it ran; ended by the scheduler"
        else:
            return
        run.terminate(time.monotonic())


def _same_token_source(one: BackendConfig, other: BackendConfig) -> bool:
    return (one.api_key_env, one.api_key_file, one.api_key_cmd) == (
        other.api_key_env,
        other.api_key_file,
        other.api_key_cmd,
    )
