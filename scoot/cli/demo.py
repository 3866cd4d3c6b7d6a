"""`scoot demo`: a self-contained tour with the bundled scripted model on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scoot.cli.views import render_history
from scoot.errors import ScootError
from scoot.instance.open import open_instance
from scoot.records.files import atomic_write_bytes
from scoot.records.runs import read_runs
from scoot.supervise.daemon import daemon_run

DEMO_SCRIPT: dict[str, Any] = {
    "rules": [
        {
            "match": "disk usage",
            "steps": [
                {"thought": "List what is here first.", "action": "glob", "action_input": "**/*"},
                {
                    "thought": "Read the disk report.",
                    "action": "file_read",
                    "action_input": "df.txt",
                },
                {"final": "Disk usage looks normal: / is at 41%, no partition above 80%."},
            ],
        },
        {
            "match": "error lines",
            "steps": [
                {
                    "thought": "Search the log for errors.",
                    "action": "grep",
                    "action_input": json.dumps({"pattern": "ERROR", "path": "app.log"}),
                },
                {"final": "2 error lines in app.log, both about the cache warming up."},
            ],
        },
        {
            "match": "status report",
            "steps": [
                {
                    "thought": "Write the report file (this job is explicitly unrestricted).",
                    "action": "file_write",
                    "action_input": json.dumps(
                        {"path": "report.txt", "content": "all systems nominal\n"}
                    ),
                },
                {"final": "Wrote report.txt."},
            ],
        },
        {
            "match": "clean up",
            "steps": [
                {
                    "thought": "Delete the old files with a shell command.",
                    "action": "bash",
                    "action_input": "rm -rf ./old",
                },
                {"final": "I was not allowed to run bash in readonly mode; nothing was deleted."},
            ],
        },
    ],
    "default": [{"final": "done"}],
}

SAMPLE_FILES = {
    "df.txt": "Filesystem Size Used Avail Use% Mounted on\n/dev/vda 252G 103G 149G 41% /\n",
    "app.log": "INFO start\nERROR cache cold\nINFO ok\nERROR cache cold again\nINFO done\n",
    "old/stale.tmp": "stale\n",
}


def demo_config(base_url: str, workspace: Path, now: float) -> str:
    ws = json.dumps(str(workspace))
    return f"""# scoot demo configuration (a throw-away runtime directory)
[backend]
base_url = "{base_url}"
model = "scripted"
timeout_ms = 10000

[schedule]
enabled = true
poll_ms = 500
max_concurrent = 2
job_timeout_sec = 30

[[schedule.jobs]]
id = "disk-check"
goal = "Inspect disk usage and summarize anomalies"
every_sec = 2
cwd = {ws}

[[schedule.jobs]]
id = "log-scan"
goal = "Count the error lines in app.log"
cron = "* * * * *"
mode = "guarded"
cwd = {ws}

[[schedule.jobs]]
id = "write-report"
goal = "Write a status report file"
at_unix = {int(now)}
mode = "unrestricted"
cwd = {ws}

[[schedule.jobs]]
id = "cleanup"
goal = "clean up the old directory"
at_unix = {int(now)}
cwd = {ws}
"""


def start_model(script_path: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoot.testing", "serve-model", "--script", str(script_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if "http://" not in line:
        proc.kill()
        raise ScootError("the scripted model did not start; run `python -m scoot.testing --help`")
    return proc, line[line.index("http://") :]


def run_demo(directory: str | None, ticks: int) -> int:
    root = Path(directory).absolute() if directory else Path(tempfile.mkdtemp(prefix="scoot-demo-"))
    if directory and (root / "config.toml").exists():
        raise ScootError(
            f"{root} already has a config.toml; give `scoot demo --dir` a new directory"
        )
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    workspace = root / "workspace"
    for name, text in SAMPLE_FILES.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    script_path = root / "demo-model.json"
    script_path.write_text(json.dumps(DEMO_SCRIPT, indent=2))
    print(f"[demo] runtime directory: {root}")
    model, base_url = start_model(script_path)
    print(f"[demo] scripted model on {base_url}")
    try:
        atomic_write_bytes(
            root / "config.toml", demo_config(base_url, workspace, time.time()).encode()
        )
        env_home = str(root)
        instance = open_instance(env_home)
        print(f"[demo] running the daemon for {ticks} poll cycles of 500 ms ...\n")
        code = daemon_run(instance, ticks=ticks, home_option=env_home)
    finally:
        model.terminate()
        model.wait(timeout=10)
    rows, _ = read_runs(instance.home.runs)
    print("\n[demo] runs, newest first:")
    for line in render_history(list(reversed(rows))):
        print("  " + line)
    denies = _count_kind(instance.home.audit_log, "policy_deny")
    print(f'\n[demo] policy denials recorded: {denies} (see kind "policy_deny" in the audit log)')
    print("[demo] where to look:")
    print(f"  scoot --scoot-home {root} schedule list       # jobs, next fire, last outcome")
    print(f"  scoot --scoot-home {root} schedule history    # every run")
    print(f"  scoot --scoot-home {root} audit show job-cleanup   # one session's audit events")
    print(f"  scoot --scoot-home {root} session show job-disk-check")
    print(f"  {instance.home.audit_log}")
    print(f"[demo] remove it when done: rm -r {root}")
    return 0 if code in (0, 1) and rows else 1


def _count_kind(path: Path, kind: str) -> int:
    if not path.exists():
        return 0
    needle = f'"kind":"{kind}"'.encode()
    return sum(1 for line in path.read_bytes().splitlines() if needle in line)
