"""The run entry points: `schedule run`, `daemon run`, `schedule trigger` and `-e`.

Each builds a Supervisor around the same launch, run-control and
record-keeping code; they differ only in where requests come from.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from scoot.errors import ScootError, UsageError
from scoot.instance.open import Instance, open_instance, print_warnings
from scoot.notify.notifier import Notifier
from scoot.notify.recovered import lost_run_ids, recovered_endings
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog, TraceLog
from scoot.schedule.jobs import JOB_ID_PATTERN
from scoot.schedule.ledger import Ledger
from scoot.schedule.pauses import PauseStore
from scoot.schedule.scheduler import Scheduler
from scoot.shared.policy import effective_unattended_mode, is_known_mode
from scoot.shared.terminal import for_stream
from scoot.supervise.opening import open_records, refuse_foreign_home
from scoot.supervise.progress import (
    InterruptNotice,
    WaitingLines,
    invalid_text,
    next_fire,
    next_fire_text,
    no_runnable_text,
    plural,
)
from scoot.supervise.recovery import recover
from scoot.supervise.requests import RequestMaker
from scoot.supervise.signals import SignalQueue
from scoot.supervise.spec import cli_session_id
from scoot.supervise.supervisor import Hooks, Reloaded, Settings, Summary, Supervisor

DISABLED_HINT = (
    "[scoot] scheduling is disabled: set [schedule] enabled = true in {config} "
    "(or SCOOT_SCHEDULE_ENABLED=true) to run scheduled jobs"
)


def _out(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def supervise(
    supervisor: Supervisor, recorder: Recorder, notifier: Notifier | None = None
) -> Summary:
    """Run the loop; the audit log is synced and closed however it ends.

    With a notifier, deliveries get up to [notify] flush_timeout_sec after the
    loop; what is still undelivered stays in the outbox for the next process.
    """
    try:
        summary = supervisor.run()
        if notifier is not None:
            notifier.finish(supervisor.config.notify.flush_timeout_sec)
        return summary
    finally:
        if notifier is not None:
            notifier.close()
        recorder.close()


def attach_notifier(
    supervisor: Supervisor,
    recorder: Recorder,
    runlog: RunLog,
    audited: Callable[[str, dict[str, Any]], None] | None = None,
) -> Notifier:
    """Notifications, pings and the outbox's leftovers, told of this loop's run events.

    `audited` also sees each audit event the notifier writes (the metrics count
    delivery outcomes from the same events the audit log holds).
    """

    def audit(kind: str, msg: str, **details: Any) -> None:
        recorder.event(kind, msg, **details)
        if audited is not None:
            audited(kind, details)

    notifier = Notifier(
        supervisor.home.state,
        supervisor.home.root,
        settings=lambda: supervisor.config.notify,
        jobs=lambda: supervisor.scheduler.jobs if supervisor.scheduler else {},
        audit=audit,
        warn=runlog.warn,
        redact=recorder.audit.redactor.value,
        adopt_child=supervisor.adopt_child,
    )
    supervisor.observe(notifier.observe, wants_ticks=notifier.tick_wanted_in)
    return notifier


def settings_for(instance: Instance, *, ticks: int, schedule: bool, daemon: bool) -> Settings:
    schedule_config = instance.config.schedule
    return Settings(
        ticks=ticks,
        poll_ms=schedule_config.poll_ms,
        max_concurrent=schedule_config.max_concurrent,
        job_timeout_sec=schedule_config.job_timeout_sec,
        shutdown_grace_sec=schedule_config.shutdown_grace_sec,
        kill_grace_sec=schedule_config.kill_grace_sec,
        use_scheduler=schedule,
        exit_when_idle=not daemon,
        reap_orphans=True,
        daemon=daemon,
    )


def record_interrupted(ledger: Ledger, recorder: Recorder, runlog: RunLog) -> int:
    """Runs left `started` by a process that died are recorded interrupted, never replayed."""
    try:
        return recover(ledger, recorder, runlog)
    except OSError as exc:
        runlog.warn(f"cannot update the ledger ({exc.strerror})")
        return 0


def make_reloader(home_option: str | None, runlog: RunLog) -> Callable[[], Reloaded | None]:
    def reload() -> Reloaded | None:
        try:
            instance = open_instance(home_option, long_lived=True)
        except ScootError as exc:
            runlog.warn(f"reload failed, keeping the previous configuration: {exc.message}")
            return None
        print_warnings(instance.warnings)
        return instance.config, instance.jobset.jobs

    return reload


def run_schedule(
    instance: Instance,
    *,
    ticks: int,
    home_option: str | None,
    hooks: Hooks | None = None,
    daemon: bool = False,
    signals: SignalQueue | None = None,
    observe: Callable[[Supervisor], None] | None = None,
) -> tuple[Summary | None, int]:
    """The scheduler loop; returns the summary and the exit code."""
    refuse_foreign_home(instance.home)
    early = _refusal(instance, ticks=ticks, daemon=daemon)
    if early is not None:
        return None, early
    jobs, invalid = instance.jobset.jobs, instance.jobset.invalid
    runlog = RunLog(_out, _err)
    token, recorder = open_records(instance, runlog.warn)
    ledger = Ledger(instance.home.ledger, instance.home.ledger_lock)
    lost = _recover(instance, ledger, recorder, runlog)
    now = time.time()
    pauses = PauseStore(instance.home.pauses, instance.home.pauses_lock)
    scheduler = Scheduler(jobs, ledger, now=now, pauses=pauses)
    if jobs:
        _out(f"[scoot] {next_fire_text(next_fire(jobs, ledger, now), now)}")
    settings = settings_for(instance, ticks=ticks, schedule=True, daemon=daemon)
    # With nothing runnable, `schedule run` waits for a reload like the daemon does.
    settings = replace(settings, exit_when_idle=settings.exit_when_idle and bool(jobs))
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=token.value,
        recorder=recorder,
        runlog=runlog,
        settings=settings,
        scheduler=scheduler,
        hooks=hooks or WaitingLines(_out),
        reload=make_reloader(home_option, runlog),
        signals=signals,
    )
    audited = _attach_metrics(supervisor)
    if observe is not None:
        observe(supervisor)
    notifier = attach_notifier(supervisor, recorder, runlog, audited)
    for ending in recovered_endings(instance.home.runs, lost):
        notifier.observe("job_end", ending)
    summary = supervise(supervisor, recorder, notifier)
    if summary.stop_reason == "idle":
        _out("[scoot] no job can fire again; exiting")
    code = 0 if summary.all_ok else 1
    if ticks and invalid:
        # Under a timer or in CI, an invalid job must turn the run red.
        _err(f"[scoot] failing: {invalid_text(invalid)} (not run); `scoot config check` says why")
        code = 1
    return summary, code


def _refusal(instance: Instance, *, ticks: int, daemon: bool) -> int | None:
    """The exit code when the loop need not start at all; None when it runs."""
    if not instance.config.schedule.enabled:
        _err(DISABLED_HINT.format(config=instance.config_label))
        return 1
    jobs, invalid = instance.jobset.jobs, instance.jobset.invalid
    if not daemon:
        _out(
            f"[scoot] schedule run started (pid={os.getpid()}, "
            f"{plural(len(jobs), 'runnable job')}, home={instance.home.root}"
            + (f", ticks={ticks})" if ticks else ")")
        )
    if not jobs and ticks:
        # Polls with nothing to fire change nothing; the verdict is known now.
        why = invalid_text(invalid) if invalid else "none configured"
        _err(f"[scoot] no runnable jobs ({why}); nothing to run in {plural(ticks, 'tick')}")
        if invalid:
            _err(
                f"[scoot] failing: {invalid_text(invalid)} (not run); `scoot config check` says why"
            )
        return 1 if invalid else 0
    if not jobs:
        # A typo must not make a silent, successful exit: wait for a fixed config.
        _err(f"[scoot] {no_runnable_text(invalid)}")
    return None


def _recover(instance: Instance, ledger: Ledger, recorder: Recorder, runlog: RunLog) -> set[str]:
    """Runs a dead process left in flight are recorded interrupted; returns their ids."""
    try:
        lost = lost_run_ids(ledger.load())  # notified once recovery has recorded them
    except OSError as exc:
        raise ScootError(f"cannot read the ledger: {exc.strerror}") from None
    if ledger.problem:
        runlog.warn(ledger.problem)
        recorder.event("config_warning", ledger.problem)
    record_interrupted(ledger, recorder, runlog)
    for text in instance.warnings:
        recorder.event("config_warning", text)
    return lost


def _attach_metrics(supervisor: Supervisor) -> Callable[[str, dict[str, Any]], None] | None:
    """[metrics]: the live view as a run-event subscriber; returns its audit-event hook."""
    metrics_config = supervisor.config.metrics
    if not (metrics_config.listen or metrics_config.textfile):
        return None
    from scoot.observe.metrics_loop import attach_metrics

    metrics = attach_metrics(supervisor, metrics_config)
    if metrics_config.listen:
        _out(f"[scoot] serving metrics on http://{metrics_config.listen}/metrics")
    return metrics.on_audit


def trigger_job(instance: Instance, job_id: str) -> int:
    """Run one configured job now, through the same worker path and rules."""
    refuse_foreign_home(instance.home)
    job = instance.jobset.by_id().get(job_id)
    if job is None:
        bad = [b for b in instance.jobset.invalid if b.id == job_id]
        if bad:
            raise UsageError(f"job {job_id!r} is invalid: {bad[0].reason}; fix it in the config")
        known = ", ".join(j.id for j in instance.jobset.jobs) or "none"
        raise UsageError(f"no job {job_id!r} in the config (known: {known})")
    runlog = RunLog(_err, _err)
    token, recorder = open_records(instance, runlog.warn)
    ledger = Ledger(instance.home.ledger, instance.home.ledger_lock)
    # Registered, not scheduled: a manual trigger fires nothing on the job's own schedule.
    scheduler = Scheduler((job,), ledger, now=None)
    settings = settings_for(instance, ticks=0, schedule=False, daemon=False)
    requests = RequestMaker(instance.home, instance.config, os.getcwd(), settings.job_timeout_sec)
    # A trigger waits for its job's backend and runs where its job runs.
    request = requests.for_job(job, origin="trigger", now=time.time())
    holder = scheduler.register_manual(request, time.time())
    if holder is not None:
        raise ScootError(
            f"job {job_id} is already running (run {holder.run_id}, pid {holder.owner_pid}); "
            "wait for it to finish"
        )
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=token.value,
        recorder=recorder,
        runlog=runlog,
        settings=settings,
        scheduler=scheduler,
        hooks=InterruptNotice(_err),
    )
    supervisor.submit(request)
    notifier = attach_notifier(supervisor, recorder, runlog)
    summary = supervise(supervisor, recorder, notifier)
    if summary.stop_reason in ("SIGINT", "SIGTERM"):
        return 130
    return _print_single_result(summary)


def _print_single_result(summary: Summary) -> int:
    if not summary.outcomes:
        return 1
    _, outcome = summary.outcomes[-1]
    if outcome.status == "ok":
        # Raw to a pipe (the answer is the program's output), escaped on a terminal.
        print(for_stream(outcome.answer or ""), flush=True)
        return 0
    return 1


def run_goal(
    instance: Instance,
    goal: str,
    *,
    trace: bool,
    retries: int | None,
    session_id: str | None,
    policy: str | None,
    unattended: bool,
    timeout_sec: float | None = None,
) -> int:
    """`scoot -e`: one goal, now, under the configured (or given) policy and time limit."""
    refuse_foreign_home(instance.home)
    config = instance.config
    if not goal.strip():
        raise UsageError('the goal is empty; pass it as: scoot -e "<goal>"')
    if session_id is not None and (
        not JOB_ID_PATTERN.fullmatch(session_id) or session_id in (".", "..")
    ):
        raise UsageError(f"invalid --session-id {session_id!r}: use 1 to 64 of A-Z a-z 0-9 . _ -")
    if policy is not None and not is_known_mode(policy):
        raise UsageError(f"unknown --policy {policy!r}: use readonly, guarded or unrestricted")
    mode = policy or config.tools.policy
    if unattended:
        resolution = effective_unattended_mode(mode, ceiling=config.edge.unattended_exec_max_policy)
        if resolution.coerced:
            _err(f"scoot: {resolution.reason}")
        mode = resolution.effective
    runlog = TraceLog(trace)
    token, recorder = open_records(instance, lambda text: _err(f"scoot: warning: {text}"))
    supervisor = Supervisor(
        home=instance.home,
        config=config,
        token=token.value,
        recorder=recorder,
        runlog=runlog,
        settings=Settings(
            use_scheduler=False,
            max_concurrent=1,
            shutdown_grace_sec=config.schedule.shutdown_grace_sec,
            kill_grace_sec=config.schedule.kill_grace_sec,
        ),
        hooks=InterruptNotice(_err),
        retries=retries,
        cwd=os.getcwd(),
    )
    request = supervisor.requests.for_goal(
        goal,
        mode=mode,
        origin="cli",
        session_id=session_id or cli_session_id(),
        now=time.time(),
        timeout_sec=timeout_sec or float(config.agent.exec_timeout_sec) or None,
    )
    supervisor.submit(request)
    summary = supervise(supervisor, recorder)
    if summary.stop_reason in ("SIGINT", "SIGTERM"):
        return 130
    return _print_single_result(summary)
