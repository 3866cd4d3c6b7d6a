"""The run entry points: `schedule run`, `daemon run`, `schedule trigger` and `-e`.

Each builds a Supervisor around the same launch, run-control and
record-keeping code; they differ only in where requests come from.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from scoot.errors import ScootError, UsageError
from scoot.instance.home import Home
from scoot.instance.open import Instance, open_instance, print_warnings
from scoot.instance.secrets import Token, resolve_token
from scoot.notify.notifier import Notifier
from scoot.notify.recovered import lost_run_ids, recovered_endings
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.retention import gaps_path_for
from scoot.records.runlog import RunLog, TraceLog
from scoot.schedule.jobs import JOB_ID_PATTERN
from scoot.schedule.ledger import Ledger
from scoot.schedule.pauses import PauseStore
from scoot.schedule.scheduler import Scheduler
from scoot.shared.policy import effective_unattended_mode, is_known_mode
from scoot.shared.terminal import for_stream
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
from scoot.supervise.runner import RunRequest
from scoot.supervise.signals import SignalQueue
from scoot.supervise.spec import cli_session_id, job_session_id, new_run_id
from scoot.supervise.supervisor import Hooks, Settings, Summary, Supervisor

DISABLED_HINT = (
    "[scoot] scheduling is disabled: set [schedule] enabled = true in {config} "
    "(or SCOOT_SCHEDULE_ENABLED=true) to run scheduled jobs"
)


def _out(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def trusted_owner(owner_uid: int, euid: int) -> bool:
    """Whose runtime directory may decide what runs as `euid`: its own, or root's."""
    return owner_uid in (euid, 0)


def refuse_foreign_home(home: Home) -> None:
    """Refuse to run jobs from a runtime directory that another user owns.

    Its config decides what runs, and with which powers: running it would
    let that user act as us (as root, if we are root). Read-only commands
    only warn about it.
    """
    try:
        owner = home.root.stat().st_uid
    except OSError:
        return  # not there yet; creating it reports what is wrong
    euid = os.geteuid()
    if not trusted_owner(owner, euid):
        raise ScootError(
            f"refusing to run jobs from {home.root}: it belongs to uid {owner}, whose config "
            f"would run as uid {euid}; run scoot as uid {owner}, or `chown -R {euid} "
            f"{home.root}` if you trust what it holds"
        )


def make_recorder(instance: Instance, token: str | None, warn: Callable[[str], None]) -> Recorder:
    config = instance.config
    redactor = Redactor([token])
    audit_path = instance.home.audit_log if config.audit.to_file else None
    max_bytes = config.audit.max_file_mb * 1024 * 1024
    keep = config.audit.max_retained_generations
    audit = AuditLog(
        audit_path,
        redactor,
        level=config.audit.level,
        on_error=warn,
        max_bytes=max_bytes,
        keep=keep,
    )
    sessions = SessionLog(
        instance.home.sessions,
        redactor,
        max_bytes=max_bytes,
        keep=keep,
        gaps=gaps_path_for(instance.home.audit_log),
    )
    return Recorder(instance.home, audit, sessions, warn=warn)


def open_records(instance: Instance, warn: Callable[[str], None]) -> tuple[Token, Recorder]:
    """The token (its problems warned) and the single writer of this process's records."""
    token = resolve_token(instance.home, instance.config.backend)
    for text in token.warnings:
        warn(text)
    if token.source.startswith("env"):
        # Held in memory from here on; the environment block would outlive the need.
        from scoot.shared.hardening import scrub_environ

        scrub_environ(instance.config.backend.api_key_env)
    return token, make_recorder(instance, token.value, warn)


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
    supervisor.observe(notifier.observe)
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


def make_reloader(
    home_option: str | None, runlog: RunLog
) -> Callable[[], tuple[object, tuple] | None]:
    def reload() -> tuple[object, tuple] | None:
        try:
            instance = open_instance(home_option)
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
    config = instance.config
    if not config.schedule.enabled:
        _err(DISABLED_HINT.format(config=instance.config_label))
        return None, 1
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
        return None, 1 if invalid else 0
    if not jobs:
        # A typo must not make a silent, successful exit: wait for a fixed config.
        _err(f"[scoot] {no_runnable_text(invalid)}")
    runlog = RunLog(_out, _err)
    token, recorder = open_records(instance, runlog.warn)
    ledger = Ledger(instance.home.ledger, instance.home.ledger_lock)
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
    now = time.time()
    pauses = PauseStore(instance.home.pauses, instance.home.pauses_lock)
    scheduler = Scheduler(jobs, ledger, now=now, pauses=pauses)
    if jobs:
        _out(f"[scoot] {next_fire_text(next_fire(jobs, ledger, now), now)}")
    settings = settings_for(instance, ticks=ticks, schedule=True, daemon=daemon)
    # With nothing runnable, `schedule run` waits for a reload like the daemon does.
    settings.exit_when_idle = settings.exit_when_idle and bool(jobs)
    supervisor = Supervisor(
        home=instance.home,
        config=config,
        token=token.value,
        recorder=recorder,
        runlog=runlog,
        settings=settings,
        scheduler=scheduler,
        hooks=hooks or WaitingLines(_out),
        reload=make_reloader(home_option, runlog),
        signals=signals,
    )
    audited: Callable[[str, dict[str, Any]], None] | None = None
    if config.metrics.listen or config.metrics.textfile:
        from scoot.observe.metrics_loop import attach_metrics

        metrics = attach_metrics(supervisor, config.metrics)
        audited = metrics.on_audit
        if config.metrics.listen:
            _out(f"[scoot] serving metrics on http://{config.metrics.listen}/metrics")
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
    request = RunRequest(
        run_id=new_run_id(),
        session_id=job_session_id(job.id),
        goal=job.goal,
        mode=job.mode.effective,
        origin="trigger",
        job_id=job.id,
        timeout_sec=job.timeout_sec,
    )
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
        settings=settings_for(instance, ticks=0, schedule=False, daemon=False),
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
    request = RunRequest(
        run_id=new_run_id(),
        session_id=session_id or cli_session_id(),
        goal=goal,
        mode=mode,
        origin="cli",
        timeout_sec=timeout_sec or float(config.agent.exec_timeout_sec) or None,
    )
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
    supervisor.submit(request)
    summary = supervise(supervisor, recorder)
    if summary.stop_reason in ("SIGINT", "SIGTERM"):
        return 130
    return _print_single_result(summary)
