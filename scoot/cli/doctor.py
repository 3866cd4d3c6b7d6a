"""`scoot config` and `scoot doctor`: what is configured, and whether it can work."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

from scoot.errors import ScootError
from scoot.instance.config import effective_values, env_var_name
from scoot.instance.home import Home, not_a_directory, permission_warnings, resolve_home
from scoot.instance.open import Instance, open_instance
from scoot.instance.secrets import resolve_token, token_file_path
from scoot.shared.terminal import printable_line


def config_report(instance: Instance) -> dict[str, Any]:
    config = instance.config
    token = resolve_token(instance.home, config.backend)
    values: dict[str, dict[str, Any]] = {}
    for section, key, value in effective_values(config):
        values.setdefault(section, {})[key] = value
    for name, backend in config.backends.items():
        values[f"backends.{name}"] = dataclasses.asdict(backend)
    return {
        "home": str(instance.home.root),
        "config_file": str(instance.loaded.source) if instance.loaded.source else None,
        "env_overrides": list(instance.loaded.env_overrides),
        "values": values,
        "token_source": token.source,
        "jobs": {"valid": len(instance.jobset.jobs), "invalid": len(instance.jobset.invalid)},
        "warnings": list(instance.warnings) + list(token.warnings),
        "token_warnings": list(token.warnings),
    }


def render_config(report: dict[str, Any]) -> list[str]:
    lines = [
        f"runtime dir: {report['home']}",
        f"config file: {report['config_file'] or '(none: defaults)'}",
        f"token: {report['token_source']} (the value is never shown)",
    ]
    overridden = set(report["env_overrides"])
    for section, body in report["values"].items():
        lines.append(f"[{section}]")
        for key, value in body.items():
            mark = (
                "  # from " + env_var_name(section, key)
                if env_var_name(section, key) in overridden
                else ""
            )
            lines.append(f"  {key} = {_show(value)}{mark}")
    jobs = report["jobs"]
    lines.append(
        f"jobs: {jobs['valid']} valid, {jobs['invalid']} invalid (see `scoot schedule list`)"
    )
    return lines


def _show(value: Any) -> str:
    """A value as TOML-like text on one line (strings and tables quoted and escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | dict):
        return printable_line(json.dumps(value, ensure_ascii=False, default=str))
    return str(value)


def _check(checks: list[dict[str, str]], name: str, status: str, detail: str) -> None:
    checks.append({"name": name, "status": status, "detail": detail})


def run_doctor(
    home_option: str | None, *, offline: bool = False, backend_timeout_sec: float = 5.0
) -> dict[str, Any]:
    checks: list[dict[str, str]] = []
    home = resolve_home(home_option)
    blocked = not_a_directory(home)
    if blocked:
        _check(checks, "runtime dir", "fail", blocked.message)
        return _summary(checks, home.root)
    if not home.root.exists():
        _check(checks, "runtime dir", "fail", f"{home.root} does not exist; run `scoot setup`")
        return _summary(checks, home.root)
    try:
        instance = open_instance(home_option, create=False)
    except ScootError as exc:
        _check(checks, "config", "fail", exc.message)
        return _summary(checks, home.root)
    _runtime_checks(checks, home)
    source = str(instance.loaded.source) if instance.loaded.source else "defaults (no config file)"
    _check(checks, "config", "ok", source)
    for text in instance.loaded.warnings:
        _check(checks, "config", "warn", text)
    token = _token_checks(checks, instance)
    _backend_check(checks, instance, token, offline, backend_timeout_sec)
    _schedule_checks(checks, instance)
    _sandbox_checks(checks, instance)
    _audit_checks(checks, instance)
    return _summary(checks, home.root)


def _runtime_checks(checks: list[dict[str, str]], home: Home) -> None:
    mode = stat.S_IMODE(home.root.stat().st_mode)
    problems = permission_warnings(home)
    if problems:
        for text in problems:
            _check(checks, "runtime dir", "warn", text)
    else:
        _check(checks, "runtime dir", "ok", f"{home.root} (mode {mode:04o})")
    missing = [p for p in (home.logs, home.state, home.sessions) if not p.is_dir()]
    if missing:
        _check(
            checks,
            "runtime tree",
            "warn",
            f"missing {', '.join(map(str, missing))}; any scoot command recreates them",
        )
    if not os.access(home.root, os.W_OK):
        _check(checks, "runtime dir", "fail", f"{home.root} is not writable by this user")


def _token_checks(checks: list[dict[str, str]], instance: Instance) -> str | None:
    token = resolve_token(instance.home, instance.config.backend)
    if token.value:
        _check(checks, "token", "ok", f"from {token.source}")
    else:
        path = token_file_path(instance.home, instance.config.backend)
        _check(
            checks,
            "token",
            "warn",
            f"none found (env {instance.config.backend.api_key_env}, file {path}, api_key_cmd); "
            "fine for a local server that needs none",
        )
    for text in token.warnings:
        _check(checks, "token", "fail", text)
    return token.value


def _schedule_checks(checks: list[dict[str, str]], instance: Instance) -> None:
    schedule = instance.config.schedule
    jobs = instance.jobset
    state = "enabled" if schedule.enabled else "disabled"
    valid = len(jobs.jobs)
    detail = (
        f"{state}, {valid} valid job{'' if valid == 1 else 's'}, {len(jobs.invalid)} invalid, "
        f"poll_ms={schedule.poll_ms}"
    )
    _check(checks, "schedule", "warn" if jobs.invalid else "ok", detail)
    for bad in jobs.invalid:
        _check(checks, "job", "warn", f"{bad.id or '#' + str(bad.index)}: {bad.reason}")


def _audit_checks(checks: list[dict[str, str]], instance: Instance) -> None:
    audit_path = instance.home.audit_log
    if instance.config.audit.to_file:
        # logs/ is created on demand: what counts is the nearest directory that exists.
        nearest = audit_path
        while not nearest.exists() and nearest != nearest.parent:
            nearest = nearest.parent
        writable = os.access(nearest, os.W_OK)
        _check(
            checks,
            "audit",
            "ok" if writable else "fail",
            f"{audit_path}" + ("" if writable else " is not writable"),
        )
    else:
        _check(checks, "audit", "warn", "audit.to_file = false: events are not kept")
    gaps = Path(str(audit_path) + ".gaps.jsonl")
    if gaps.exists() and gaps.stat().st_size:
        _check(checks, "audit", "warn", f"evicted generations recorded in {gaps}")


def _backend_check(
    checks: list[dict[str, str]],
    instance: Instance,
    token: str | None,
    offline: bool,
    timeout_sec: float,
) -> None:
    """Reach the backend with the token a run would send; a job's backend must work."""
    from scoot.cli.backend_probe import probe_backend

    backend = instance.config.backend
    if offline:
        _check(checks, "backend", "warn", f"{backend.base_url} not contacted (--offline)")
        return
    found = probe_backend(backend, token, timeout_sec=timeout_sec)
    if found.usable:
        _check(checks, "backend", "ok", f"{found.detail} (model {backend.model})")
        if found.warning:
            _check(checks, "backend", "warn", found.warning)
        return
    used = instance.config.schedule.enabled and bool(instance.jobset.jobs)
    if used:
        _check(checks, "backend", "fail", f"{found.detail}; scheduled jobs would fail")
    else:
        _check(checks, "backend", "warn", f"{found.detail}; no scheduled job uses it yet")


def _sandbox_checks(checks: list[dict[str, str]], instance: Instance) -> None:
    from worker.sandbox.probe import probe

    report = probe()
    _mode_checks(checks, report)
    abi = report.get("abi", 0)
    if abi:
        features = report.get("features", {})
        missing = [name for name, info in features.items() if not _supported(info)]
        status = "ok" if not missing else "warn"
        detail = f"Landlock ABI {abi}: readonly runs are enforced by the kernel"
        if missing:
            detail += f" (not supported here: {', '.join(missing)})"
        _check(checks, "sandbox", status, detail)
    else:
        why = report.get("reason") or report.get("why") or "Landlock unavailable"
        status = "fail" if instance.config.sandbox.require else "warn"
        tail = (
            "readonly runs are refused ([sandbox] require = true)"
            if instance.config.sandbox.require
            else "readonly runs rely on the policy gate alone"
        )
        _check(checks, "sandbox", status, f"{why}; {tail}")


def _mode_checks(checks: list[dict[str, str]], report: dict[str, Any]) -> None:
    from worker.sandbox.probe import mode_protections

    for mode, protections in mode_protections(report).items():
        _check(checks, f"sandbox {mode}", "ok", protections)


def _supported(info: Any) -> bool:
    if isinstance(info, dict):
        return bool(info.get("supported", info.get("available", False)))
    return bool(info)


def _summary(checks: list[dict[str, str]], root: Path) -> dict[str, Any]:
    failures = sum(1 for c in checks if c["status"] == "fail")
    warnings = sum(1 for c in checks if c["status"] == "warn")
    return {"home": str(root), "checks": checks, "failures": failures, "warnings": warnings}


def render_doctor(report: dict[str, Any]) -> list[str]:
    lines = [f"{c['status'].upper():<5} {c['name']}: {c['detail']}" for c in report["checks"]]
    verdict = "FAILED" if report["failures"] else "OK"
    lines.append(
        f"doctor: {verdict} ({report['failures']} failures, {report['warnings']} warnings)"
    )
    return lines
