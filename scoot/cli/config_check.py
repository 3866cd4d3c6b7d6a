"""`scoot config check`: lint a runtime directory's config before it is deployed.

Exit 0 when clean, 1 when a job is invalid or a key is unknown (the daemon
would run without them), 2 when the file cannot be read or used at all.
"""

from __future__ import annotations

from typing import Any

from scoot.errors import UsageError
from scoot.instance.config import build_config, read_config_file
from scoot.instance.home import check_home, resolve_home
from scoot.instance.open import open_instance
from scoot.schedule.jobs import KNOWN_KEYS
from scoot.supervise.progress import plural


def check_config(home_option: str | None) -> dict[str, Any]:
    """Problems and notes of the config; raises ConfigError/UsageError (exit 2) when unreadable."""
    home = resolve_home(home_option)
    check_home(home)
    _, path = read_config_file(home)
    if path is None:
        raise UsageError(
            f"no config file in {home.root} (config.toml or config.json); "
            "write one, or run `scoot setup`"
        )
    instance = open_instance(home_option, create=False)
    # Unknown sections and keys of the file itself; SCOOT_* variables are not the file's fault.
    data, _ = read_config_file(home)
    schedule = data.get("schedule")
    raw_jobs = schedule.get("jobs", []) if isinstance(schedule, dict) else []
    if not isinstance(raw_jobs, list):
        raw_jobs = []
    _, file_warnings, _ = build_config(data, str(path), {})
    problems = [f"{text}" for text in file_warnings]
    for index, entry in enumerate(raw_jobs, start=1):
        if isinstance(entry, dict):
            name = entry.get("id") if isinstance(entry.get("id"), str) else f"#{index}"
            for key in sorted(set(entry) - KNOWN_KEYS):
                problems.append(
                    f"job {name!r}: unknown key {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})"
                )
    for bad in instance.jobset.invalid:
        problems.append(f"job {bad.id or '#' + str(bad.index)!r} is invalid: {bad.reason}")
    env_notes = [t for t in instance.loaded.warnings if t not in file_warnings]
    return {
        "config_file": str(path),
        "jobs": {"valid": len(instance.jobset.jobs), "invalid": len(instance.jobset.invalid)},
        "problems": problems,
        "notes": env_notes,
    }


def render_check(report: dict[str, Any]) -> list[str]:
    lines = [f"PROBLEM {text}" for text in report["problems"]]
    lines += [f"NOTE    {text}" for text in report["notes"]]
    jobs = report["jobs"]
    counts = f"{plural(jobs['valid'], 'valid job')}, {jobs['invalid']} invalid"
    if report["problems"]:
        lines.append(
            f"config check: FAILED {report['config_file']} "
            f"({plural(len(report['problems']), 'problem')}; {counts})"
        )
    else:
        lines.append(f"config check: OK {report['config_file']} ({counts})")
    return lines
