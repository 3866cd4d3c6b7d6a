"""`daemon run|status|stop`: the scheduler loop plus lifecycle files and the single-daemon guard."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from scoot.app import Instance
from scoot.entry import DISABLED_HINT, refuse_foreign_home, run_schedule
from scoot.errors import ScootError
from scoot.home import Home
from scoot.lifecycle import (
    DaemonLock,
    Liveness,
    StateFile,
    mark_stale_state,
    probe,
    read_pid_file,
    remove_stale_pid_file,
)
from scoot.procs import is_alive
from scoot.sdnotify import Notifier
from scoot.signals import SignalQueue
from scoot.supervisor import Hooks, Supervisor

STATE_REFRESH_SEC = 30.0


class DaemonHooks(Hooks):
    """Keeps daemon.json current and tells systemd (when it is watching) what happens."""

    def __init__(self, state: StateFile, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier
        self._last_refresh = 0.0

    def _status_text(self, supervisor: Supervisor) -> str:
        jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
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
            jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
            try:
                self.state.jobs = jobs
                self.state.write_running(
                    running=supervisor.running_count,
                    waiting_for_backend=supervisor.waiting_by_backend(),
                )
            except OSError as exc:
                supervisor.runlog.warn(f"cannot update daemon state ({exc.strerror})")

    def backend_waits(self, supervisor: Supervisor, waiting: dict[str, int]) -> None:
        # Written at once, not at the next refresh: `daemon status` shows who waits.
        try:
            self.state.write_running(running=supervisor.running_count, waiting_for_backend=waiting)
        except OSError as exc:
            supervisor.runlog.warn(f"cannot update daemon state ({exc.strerror})")

    def reloading(self, supervisor: Supervisor) -> None:
        self.notifier.send(
            RELOADING=1, MONOTONIC_USEC=int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        )

    def reloaded(self, supervisor: Supervisor) -> None:
        jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        self.state.jobs = jobs
        self.state.poll_ms = supervisor.config.schedule.poll_ms
        try:
            self.state.write_running(note="configuration reloaded")
        except OSError as exc:
            supervisor.runlog.warn(f"cannot update daemon state ({exc.strerror})")
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
    if live.stale and not locked:
        verdict = "stale"
    elif live.alive:
        verdict = "running"
    elif live.state is None:
        verdict = "never-started" if live.state_problem == "no daemon state recorded" else "unknown"
    else:
        verdict = str(live.state.get("status", "unknown"))
    return {
        "home": str(home.root),
        "verdict": verdict,
        "alive": live.alive,
        "lock_held": locked,
        "pid_file": live.pid_file_pid,
        "state": live.state,
        "state_problem": live.state_problem,
    }


def reconcile_stale(home: Home, live: Liveness) -> bool:
    """A `running` state whose process is gone becomes `stopped (unclean)`; pid file removed."""
    if not live.stale or live.lock_held:
        return False
    assert live.state is not None
    mark_stale_state(home, live.state)
    remove_stale_pid_file(home)
    return True


def daemon_stop(home: Home, *, wait: bool, timeout_sec: float) -> tuple[int, str]:
    """Signal the daemon only when state, pid file and process identity agree."""
    live = probe(home)
    if not live.recorded_running:
        if read_pid_file(home) is not None and remove_stale_pid_file(home):
            return 0, "no daemon running (removed a stale pid file; nobody was signalled)"
        return 0, "no daemon running"
    if not live.agree or not live.alive:
        reconcile_stale(home, live)
        remove_stale_pid_file(home)
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
    deadline = time.monotonic() + timeout_sec
    while time.monotonic() < deadline:
        if not is_alive(pid, started if isinstance(started, float) else None):
            return 0, f"daemon pid {pid} stopped"
        time.sleep(0.05)
    return 1, f"daemon pid {pid} still running after {timeout_sec:g} s; it may be draining runs"
