"""Shared test helpers: runtime directories with jobs, and the real `scoot` as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from scoot.instance.open import open_instance
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.supervise.launch import WorkerBody
from scoot.supervise.supervisor import Settings, Supervisor

SCOOT = shutil.which("scoot") or f"{sys.executable} -m scoot"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def write_config(
    home: Path,
    *,
    base_url: str = "http://127.0.0.1:9/v1",
    jobs: Iterable[dict[str, Any]] = (),
    schedule: dict[str, Any] | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """A config.toml with the scheduler enabled, fast polls and the given jobs."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = {"enabled": True, "poll_ms": 100, "shutdown_grace_sec": 2, "kill_grace_sec": 1}
    body.update(schedule or {})
    all_sections = {"backend": {"base_url": base_url, "model": "scripted", "retries": 0}}
    for name, values in (sections or {}).items():
        all_sections.setdefault(name, {}).update(values)
    lines = []
    for name, values in all_sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    lines.append("[schedule]")
    lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    for job in jobs:
        lines.append("[[schedule.jobs]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in job.items()]
    path = home / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def clean_env(
    home: Path | None = None, *, user_home: Path | None = None, **extra: str
) -> dict[str, str]:
    """This environment without SCOOT_*, the token variable or systemd's socket."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOOT_")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("NOTIFY_SOCKET", None)
    if user_home is not None:
        env["HOME"] = str(user_home)
    if home is not None:
        env["SCOOT_HOME"] = str(home)
    env.update(extra)
    return env


def scoot_cmd(*args: str) -> list[str]:
    return [*SCOOT.split(), *args]


def run_scoot(
    home: Path | None,
    *args: str,
    timeout: float = 30,
    cwd: Path | None = None,
    input: str | None = None,
    user_home: Path | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """The real `scoot` console script, with `home` as SCOOT_HOME (None: not set)."""
    return subprocess.run(
        scoot_cmd(*args),
        env=clean_env(home, user_home=user_home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or home,
        input=input if input is not None else "",
        check=False,
    )


def start_scoot(
    home: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        scoot_cmd(*args),
        env=clean_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd or home,
        stdin=subprocess.DEVNULL,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line must parse: the records are only worth anything whole."""
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        assert line.strip(), f"{path}:{number}: empty line"
        value = orjson.loads(line)  # raises on a torn or garbage line
        assert isinstance(value, dict), f"{path}:{number}: not an object"
        rows.append(value)
    return rows


def audit(home: Path) -> list[dict[str, Any]]:
    return read_jsonl(home / "logs" / "audit.jsonl")


def audit_kinds(home: Path) -> list[str]:
    return [row["kind"] for row in audit(home)]


def worker_pids(home: Path) -> list[int]:
    """Pids of every worker that said hello (the `sandbox` audit event)."""
    return [row["pid"] for row in audit(home) if row["kind"] == "sandbox"]


def runs(home: Path) -> list[dict[str, Any]]:
    return read_jsonl(home / "state" / "runs.jsonl")


def ledger_jobs(home: Path) -> dict[str, dict[str, Any]]:
    """The ledger's entries as scoot reads them (ledger.json and its journal), as dicts."""
    from scoot.schedule.ledger import Ledger

    state = home / "state"
    entries = Ledger(state / "ledger.json", state / "ledger.lock").peek()
    return {job_id: entry.to_dict() for job_id, entry in entries.items()}


def wait_for(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def stop(proc: subprocess.Popen[str], timeout: float = 10) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def supervise(
    home_dir: Path,
    body: WorkerBody,
    goals: Iterable[str],
    *,
    mode: str = "readonly",
    timeout_sec: float = 5,
    before_run: Callable[[Supervisor], None] | None = None,
    **settings: Any,
) -> tuple[Supervisor, list[str]]:
    """Run one forked worker per goal with `body`, through the real launch and run control.

    `before_run` sees the supervisor with its requests queued, before its loop starts.
    Returns the supervisor (its summary holds the outcomes) and the run log lines.
    """
    write_config(home_dir)
    instance = open_instance(str(home_dir))
    redactor = Redactor()
    lines: list[str] = []
    recorder = Recorder(
        instance.home,
        AuditLog(instance.home.audit_log, redactor),
        SessionLog(instance.home.sessions, redactor),
        warn=lines.append,
    )
    options: dict[str, Any] = {"use_scheduler": False, "max_concurrent": 4, "kill_grace_sec": 0.5}
    options.update(settings)
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=None,
        recorder=recorder,
        runlog=RunLog(lines.append, lines.append),
        settings=Settings(**options),
        worker_body=body,
    )
    for number, goal in enumerate(goals):
        supervisor.submit(
            supervisor.requests.for_goal(
                goal,
                mode=mode,
                origin="trigger",
                session_id=f"s-{number}",
                now=time.time(),
                timeout_sec=timeout_sec,
                job_id=f"job-{number}",
            )
        )
    if before_run is not None:
        before_run(supervisor)
    try:
        supervisor.run()
    finally:
        recorder.audit.close()
    return supervisor, lines


def make_scratch_dir(base: str, run_id: str) -> str:
    """Create `<base>/<run_id>` (mode 0700, base 0700 if new) and return its path: a run's
    private scratch directory, as the sandbox and removal tests need one."""
    if not run_id or run_id in (".", "..") or "/" in run_id or "\0" in run_id:
        raise ValueError(f"run id cannot name a directory: {run_id!r}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    path = os.path.join(os.path.realpath(base), run_id)
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)  # the umask may have removed bits we rely on being exactly these
    return path
