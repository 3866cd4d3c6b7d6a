"""`daemon run|status|stop`: the scheduler loop plus lifecycle files and the single-daemon guard."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from scoot.errors import ScootError
from scoot.instance.home import Home
from scoot.instance.open import Instance
from scoot.records.files import tail_objects
from scoot.records.outage import Outage
from scoot.supervise.entrypoints import DISABLED_HINT, refuse_foreign_home, run_schedule
from scoot.supervise.lifecycle import (
    DaemonLock,
    Liveness,
    StateFile,
    mark_stale_state,
    probe,
    read_pid_file,
    read_state,
    remove_stale_pid_file,
)
from scoot.supervise.procs import is_alive
from scoot.supervise.progress import RELOAD_HINT
from scoot.supervise.sdnotify import Notifier
from scoot.supervise.signals import SignalQueue
from scoot.supervise.supervisor import Hooks, Supervisor

STATE_REFRESH_SEC = 30.0
# Run boundaries rewrite daemon.json at most this often; a burst is published at the next poll.
STATE_MIN_INTERVAL_SEC = 0.5
# Exit codes of `daemon status`, as LSB init scripts and `systemctl status` use them.
STATUS_EXIT = {"running": 0, "stale": 1, "unproven": 4, "unknown": 4}
STATUS_NOT_RUNNING = 3


def status_exit_code(verdict: str) -> int:
    """0 running, 1 recorded running but dead, 3 not running, 4 state unreadable."""
    return STATUS_EXIT.get(verdict, STATUS_NOT_RUNNING)


def activity_of(supervisor: Supervisor) -> dict[str, Any]:
    """The runs in progress, the queue and each job's next fire, as daemon.json holds them."""
    runs = [
        {
            "job_id": run.request.job_id,
            "run_id": run.request.run_id,
            "mode": run.request.mode,
            "origin": run.request.origin,
            "started_at": round(run.started_at, 3),
        }
        for run in supervisor.active.values()
    ]
    queue = [
        {
            "job_id": request.job_id,
            "run_id": request.run_id,
            "instant": request.instant,
            "queued_at": round(request.queued_at, 3) if request.queued_at else None,
        }
        for request in supervisor.queue
    ]
    scheduler = supervisor.scheduler
    next_fires = (
        {job: round(due, 3) for job, due in sorted(scheduler.next_due_by_job().items())}
        if scheduler
        else {}
    )
    job_ids = sorted(scheduler.jobs) if scheduler else []
    return {
        "runs": runs,
        "queue": queue,
        "next_fires": next_fires,
        "job_ids": job_ids,
        "waiting_for_backend": supervisor.waiting_by_backend(),
    }


class DaemonHooks(Hooks):
    """Keeps daemon.json current and tells systemd (when it is watching) what happens."""

    def __init__(self, state: StateFile, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier
        self._last_refresh = 0.0
        self._supervisor: Supervisor | None = None
        self._dirty = False
        self._published_mono = 0.0
        self._state_outage = Outage(state.home.state)  # one warning per outage

    def _write_state(self, supervisor: Supervisor, **extra: Any) -> None:
        """Publish the running state; a full disk is warned once per outage, not per write."""
        try:
            self.state.write_running(**extra)
        except OSError as exc:
            if self._state_outage.failed():
                supervisor.runlog.warn(f"cannot update daemon state ({exc.strerror})")
            return
        if self._state_outage.succeeded():
            supervisor.runlog.warn("daemon state is writable again")

    def attach(self, supervisor: Supervisor) -> None:
        """Publish what the loop does at run boundaries (and once at start)."""
        self._supervisor = supervisor
        supervisor.observe(self.on_event)
        self.state.activity = activity_of(supervisor)
        self._dirty = True  # the first poll publishes the next fires

    def on_event(self, kind: str, _fields: dict[str, Any]) -> None:
        if kind in ("job_start", "job_end", "job_queued"):
            self._dirty = True
            if time.monotonic() - self._published_mono < STATE_MIN_INTERVAL_SEC:
                return  # the next poll publishes it
        elif not (kind == "tick" and self._dirty):
            return
        supervisor = self._supervisor
        if supervisor is None:
            return
        self._dirty = False
        self._published_mono = time.monotonic()
        self.state.activity = activity_of(supervisor)
        self.state.jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        self._write_state(supervisor, running=supervisor.running_count)

    def _status_text(self, supervisor: Supervisor) -> str:
        jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        if not jobs:
            return f"no runnable jobs; waiting: {RELOAD_HINT}"
        return f"{jobs} jobs, {supervisor.running_count} running"

    def ready(self, supervisor: Supervisor) -> None:
        self.notifier.send(READY=1, STATUS=self._status_text(supervisor))

    def heartbeat_interval(self) -> float | None:
        watchdog = self.notifier.watchdog_interval()
        return min(watchdog, STATE_REFRESH_SEC) if watchdog else STATE_REFRESH_SEC

    def heartbeat(self, supervisor: Supervisor) -> None:
        self.notifier.send(WATCHDOG=1, STATUS=self._status_text(supervisor))
        now = time.monotonic()
        if now - self._last_refresh >= STATE_REFRESH_SEC:
            self._last_refresh = now
            self.state.jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
            self.state.activity = activity_of(supervisor)
            self._write_state(supervisor, running=supervisor.running_count)

    def backend_waits(self, supervisor: Supervisor, waiting: dict[str, int]) -> None:
        # Written at once, not at the next refresh: `daemon status` shows who waits.
        self.state.activity = {**activity_of(supervisor), "waiting_for_backend": waiting}
        self._write_state(supervisor, running=supervisor.running_count)

    def reloading(self, supervisor: Supervisor) -> None:
        self.notifier.send(
            RELOADING=1, MONOTONIC_USEC=int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        )

    def reloaded(self, supervisor: Supervisor) -> None:
        jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        self.state.jobs = jobs
        self.state.poll_ms = supervisor.config.schedule.poll_ms
        self.state.activity = activity_of(supervisor)
        self._write_state(supervisor, note="configuration reloaded")
        self.notifier.send(READY=1, STATUS=self._status_text(supervisor))

    def stopping(self, supervisor: Supervisor, remaining_sec: float) -> None:
        extend = remaining_sec + supervisor.settings.kill_grace_sec + 5
        self.notifier.send(
            STOPPING=1,
            STATUS=f"stopping: {supervisor.running_count} runs to finish",
            EXTEND_TIMEOUT_USEC=int(extend * 1e6),
        )


def daemon_run(instance: Instance, *, ticks: int, home_option: str | None) -> int:
    home = instance.home
    config = instance.config
    refuse_foreign_home(home)
    if not config.schedule.enabled:
        print(DISABLED_HINT.format(config=instance.config_label), file=sys.stderr)
        return 1
    lock = DaemonLock(home)
    lock.acquire()  # raises AlreadyRunning with the refusal message
    # From here on a signal is queued for the loop, never fatal: a SIGTERM or SIGHUP
    # that arrives while the daemon starts is handled once the loop runs.
    signals = SignalQueue()
    signals.install()
    try:
        before = probe(home)
        if before.recorded_running:
            pid = before.pid
            print(
                f"[scoot] warning: previous daemon (pid={pid}) did not stop cleanly; "
                "recovering (state reset, in-flight runs marked interrupted)",
                file=sys.stderr,
                flush=True,
            )
        elif before.pid_file_pid is not None:
            remove_stale_pid_file(home)
        _set_title(f"scoot: daemon {home.root}")
        state = StateFile(
            home,
            poll_ms=config.schedule.poll_ms,
            jobs=len(instance.jobset.jobs),
            schedule_enabled=True,
        )
        note = "recovered from an unclean stop" if before.recorded_running else ""
        try:
            state.write_running(note=note)
        except OSError as exc:
            raise ScootError(f"cannot write {home.daemon_state}: {exc.strerror}") from None
        hooks = DaemonHooks(state, Notifier.from_env())
        stop_reason = "error"
        try:
            print(
                f"[scoot] daemon started (pid={os.getpid()}, jobs={len(instance.jobset.jobs)}, "
                f"poll_ms={config.schedule.poll_ms}, home={home.root})",
                flush=True,
            )
            summary, code = run_schedule(
                instance,
                ticks=ticks,
                home_option=home_option,
                hooks=hooks,
                daemon=True,
                signals=signals,
                observe=hooks.attach,
            )
            stop_reason = summary.stop_reason if summary else "loop_end"
            if stop_reason in ("SIGTERM", "SIGINT"):
                stop_reason = f"signal:{stop_reason}"
                code = 0
        finally:
            try:
                state.write_stopped(stop_reason)
            except OSError as exc:
                print(
                    f"[scoot] warning: cannot write stopped state: {exc.strerror}", file=sys.stderr
                )
            print(f"[scoot] daemon stopped ({stop_reason})", flush=True)
        return code
    finally:
        _stop_listening(signals)
        lock.release()


# Signals that ask a daemon to stop or reload: once it has stopped, more of them change nothing.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def _stop_listening(signals: SignalQueue) -> None:
    """Take the signal queue down, leaving SIGTERM, SIGINT and SIGHUP ignored.

    The daemon has stopped and written its state; a late signal (a storm, a
    `daemon stop` racing the end of `--ticks`) must not turn that clean exit
    into death by signal in the process's last milliseconds. The signals are
    blocked while the queue's handlers go, so none meets its default action.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        signals.uninstall()
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # also discards one already pending
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _set_title(title: str) -> None:
    try:
        from setproctitle import setproctitle

        setproctitle(title)
    except ImportError:
        pass


def status_report(home: Home) -> dict[str, Any]:
    """The recorded state, the pid file, and whether that daemon really runs."""
    live = probe(home)
    locked = live.lock_held
    if live.alive:
        verdict = "running"
    elif live.recorded_running and locked is not False:
        verdict = "unproven"  # something holds, or may hold, the lock: not the recorded daemon
    elif live.stale:
        verdict = "stale"
    elif live.state is None:
        verdict = "never-started" if live.state_problem == "no daemon state recorded" else "unknown"
    else:
        verdict = str(live.state.get("status", "unknown"))
    state = live.state or {}
    return {
        "home": str(home.root),
        "verdict": verdict,
        "exit_code": status_exit_code(verdict),
        "runs": state.get("runs", []) if verdict == "running" else [],
        "queue": state.get("queue", []) if verdict == "running" else [],
        "next_fires": state.get("next_fires", {}) if verdict == "running" else {},
        "last_outcomes": last_outcomes(home, state.get("job_ids")),
        "alive": live.alive,
        "lock_held": locked,
        "lock_problem": live.lock_problem,
        "pid_file": live.pid_file_pid,
        "state": live.state,
        "state_problem": live.state_problem,
    }


LAST_OUTCOME_WINDOW = 1024 * 1024


def last_outcomes(home: Home, job_ids: Any) -> dict[str, dict[str, Any]]:
    """Each job's last recorded run (from the end of runs.jsonl), of the daemon's jobs if known."""
    wanted = set(job_ids) if isinstance(job_ids, list) else None
    picked: dict[str, dict[str, Any]] = {}
    for row in tail_objects(home.runs, LAST_OUTCOME_WINDOW):
        job = row.get("job_id")
        if isinstance(job, str) and (wanted is None or job in wanted):
            picked[job] = {k: row.get(k) for k in ("run_id", "status", "ended_at", "error")}
    return dict(sorted(picked.items()))


def reconcile_stale(home: Home, live: Liveness) -> bool:
    """A `running` state whose process is gone becomes `stopped (unclean)`; pid file removed.

    Only while holding the daemon lock, and only when the state is still the one
    probed: a daemon that starts meanwhile keeps its own files.
    """
    if not live.stale or live.lock_held:
        return False
    with DaemonLock(home).held_if_free() as held:
        state, _ = read_state(home)
        if not held or state is None or state != live.state:
            return False
        mark_stale_state(home, state)
        remove_stale_pid_file(home)
    return True


def remove_pid_file_if_unlocked(home: Home) -> bool:
    """Remove a pid file nobody stands behind; never while a daemon holds the lock."""
    with DaemonLock(home).held_if_free() as held:
        return held and read_pid_file(home) is not None and remove_stale_pid_file(home)


# How often `daemon stop --wait` says it is still waiting.
STOP_PROGRESS_SEC = 5.0


def daemon_stop(
    home: Home,
    *,
    wait: bool,
    timeout_sec: float,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, str]:
    """Signal the daemon only when state, pid file and process identity agree.

    `progress` hears what happens while it waits: the signal sent, then a line
    every STOP_PROGRESS_SEC until the daemon has exited or the timeout passed.
    """
    live = probe(home)
    if not live.recorded_running:
        if remove_pid_file_if_unlocked(home):
            return 0, "no daemon running (removed a stale pid file; nobody was signalled)"
        return 0, "no daemon running"
    if live.lock_held is None or (live.lock_held and not live.alive):
        # Something holds, or may hold, this directory: not proven to be the recorded daemon.
        raise ScootError(
            f"refusing to signal pid {live.pid}: not proven to be the daemon holding "
            f"{home.daemon_lock} ({live.lock_problem or 'unknown holder'}); nobody was signalled"
        )
    if not live.agree or not live.alive:
        reconcile_stale(home, live)
        remove_pid_file_if_unlocked(home)
        return 0, (
            "no daemon running: the recorded state was stale "
            f"(pid {live.pid} is gone or is another process); cleaned up, nobody was signalled"
        )
    pid = live.pid
    assert pid is not None
    started = live.state.get("pid_start_time") if live.state else None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0, "no daemon running (it exited just now)"
    except PermissionError:
        raise ScootError(
            f"not allowed to signal daemon pid {pid}; run `scoot daemon stop` as its user"
        ) from None
    if not wait:
        return 0, f"sent SIGTERM to daemon pid {pid}"
    say = progress or (lambda _text: None)
    say(
        f"[scoot] sent SIGTERM to daemon pid {pid}; waiting up to {timeout_sec:g} s "
        "for it to finish its runs and exit"
    )
    began = time.monotonic()
    deadline = began + timeout_sec
    next_note = began + STOP_PROGRESS_SEC
    while time.monotonic() < deadline:
        if not is_alive(pid, started if isinstance(started, float) else None):
            return 0, f"daemon pid {pid} stopped"
        if time.monotonic() >= next_note:
            next_note += STOP_PROGRESS_SEC
            say(
                f"[scoot] still waiting for daemon pid {pid} ({_running_note(home)}"
                f"{time.monotonic() - began:.0f} s of {timeout_sec:g} s)"
            )
        time.sleep(0.05)
    return 1, f"daemon pid {pid} still running after {timeout_sec:g} s; it may be draining runs"


def _running_note(home: Home) -> str:
    """ "2 runs finishing, " from the daemon's last recorded state, or nothing."""
    live = probe(home)
    running = live.state.get("running") if live.state else None
    if isinstance(running, int) and not isinstance(running, bool) and running > 0:
        return f"{running} run{'' if running == 1 else 's'} finishing, "
    return ""
