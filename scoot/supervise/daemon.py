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
from scoot.supervise.daemon_hooks import DaemonHooks
from scoot.supervise.entrypoints import DISABLED_HINT, run_schedule
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
from scoot.supervise.opening import refuse_foreign_home
from scoot.supervise.procs import is_alive
from scoot.supervise.sdnotify import Notifier
from scoot.supervise.signals import SignalQueue

# Exit codes of `daemon status`, as LSB init scripts and `systemctl status` use them.
STATUS_EXIT = {"running": 0, "stale": 1, "unproven": 4, "unknown": 4}
STATUS_NOT_RUNNING = 3


def status_exit_code(verdict: str) -> int:
    """0 running, 1 recorded running but dead, 3 not running, 4 state unreadable."""
    return STATUS_EXIT.get(verdict, STATUS_NOT_RUNNING)


def daemon_run(instance: Instance, *, ticks: int, home_option: str | None) -> int:
    home = instance.home
    refuse_foreign_home(home)
    if not instance.config.schedule.enabled:
        print(DISABLED_HINT.format(config=instance.config_label), file=sys.stderr)
        return 1
    lock = DaemonLock(home)
    lock.acquire()  # raises AlreadyRunning with the refusal message
    # From here on a signal is queued for the loop, never fatal: a SIGTERM or SIGHUP
    # that arrives while the daemon starts is handled once the loop runs.
    signals = SignalQueue()
    signals.install()
    try:
        state = _start_state(instance)
        return _serve(instance, state, ticks=ticks, home_option=home_option, signals=signals)
    finally:
        _stop_listening(signals)
        lock.release()


def _start_state(instance: Instance) -> StateFile:
    """Recover from a previous daemon's unclean stop, then record this one as running."""
    home = instance.home
    before = probe(home)
    if before.recorded_running:
        print(
            f"[scoot] warning: previous daemon (pid={before.pid}) did not stop cleanly; "
            "recovering (state reset, in-flight runs marked interrupted)",
            file=sys.stderr,
            flush=True,
        )
    elif before.pid_file_pid is not None:
        remove_stale_pid_file(home)
    _set_title(f"scoot: daemon {home.root}")
    state = StateFile(
        home,
        poll_ms=instance.config.schedule.poll_ms,
        jobs=len(instance.jobset.jobs),
        schedule_enabled=True,
    )
    note = "recovered from an unclean stop" if before.recorded_running else ""
    try:
        state.write_running(note=note)
    except OSError as exc:
        raise ScootError(f"cannot write {home.daemon_state}: {exc.strerror}") from None
    return state


def _serve(
    instance: Instance,
    state: StateFile,
    *,
    ticks: int,
    home_option: str | None,
    signals: SignalQueue,
) -> int:
    """The scheduler loop with the daemon's hooks; the stopped state is written however it ends."""
    hooks = DaemonHooks(state, Notifier.from_env())
    stop_reason = "error"
    try:
        print(
            f"[scoot] daemon started (pid={os.getpid()}, jobs={len(instance.jobset.jobs)}, "
            f"poll_ms={instance.config.schedule.poll_ms}, home={instance.home.root})",
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
            print(f"[scoot] warning: cannot write stopped state: {exc.strerror}", file=sys.stderr)
        print(f"[scoot] daemon stopped ({stop_reason})", flush=True)
    return code


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
    return _wait_for_exit(
        home, pid, started if isinstance(started, float) else None, timeout_sec, say
    )


def _wait_for_exit(
    home: Home, pid: int, started: float | None, timeout_sec: float, say: Callable[[str], None]
) -> tuple[int, str]:
    """Until the signalled daemon has exited, saying so every STOP_PROGRESS_SEC."""
    began = time.monotonic()
    deadline = began + timeout_sec
    next_note = began + STOP_PROGRESS_SEC
    while time.monotonic() < deadline:
        if not is_alive(pid, started):
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
