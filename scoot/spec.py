"""Run specs: everything a worker needs for one run, sent to it once over a pipe."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from scoot.config import BackendConfig, Config, all_backends
from scoot.home import Home
from scoot.jobs import LIMIT_KEYS, Job
from scoot.runner import RunRequest
from scoot.spend.backends import chain

_sequence = count(1)


def new_run_id(now: float | None = None) -> str:
    """Unique across processes sharing a runtime directory: time, pid, counter."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"r{ms}-{os.getpid()}-{next(_sequence)}"


def cli_session_id(now: float | None = None) -> str:
    ms = int((time.time() if now is None else now) * 1000)
    return f"cli-{ms}-{os.getpid()}"


def job_session_id(job_id: str) -> str:
    return f"job-{job_id}"


def limits_for(config: Config, job: Job | None) -> dict[str, int]:
    """[sandbox] defaults overlaid with the job's own limits."""
    merged = {key: getattr(config.sandbox, key) for key in LIMIT_KEYS}
    if job is not None:
        merged.update(job.limits)
    return merged


def protected_paths(home: Home, config: Config) -> list[str]:
    """What no tool of a confined run may read or write: the runtime directory,
    and the config and every backend's token file wherever their links lead."""
    from scoot.secrets import token_file_path

    paths = [home.root, home.config_toml, home.config_json]
    paths += [token_file_path(home, backend) for backend in all_backends(config).values()]
    return sorted({os.path.realpath(path) for path in paths})


def build_spec(
    config: Config,
    home: Home,
    request: RunRequest,
    *,
    token: str | None,
    cwd: str,
    limits: dict[str, int],
    retries: int | None = None,
    backend_name: str = "default",
    allowance: dict[str, Any] | None = None,
    token_for: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    backends = all_backends(config)
    names = chain(backends, backend_name) or ["default"]
    backend = backends[names[0]]
    if names[0] != "default" and token_for is not None:
        token = token_for(names[0])
    fallbacks = [
        {
            "name": name,
            "token": token_for(name) if token_for is not None else token,
            **backend_settings(backends[name], retries),
        }
        for name in names[1:]
    ]
    spec = {
        "run_id": request.run_id,
        "session_id": request.session_id,
        "job_id": request.job_id,
        "goal": request.goal,
        "mode": request.mode,
        "cwd": cwd,
        "token": token,
        "api_key_env": backend.api_key_env,
        "backend": backend_settings(backend, retries),
        "backend_name": names[0],
        "fallbacks": fallbacks,
        "budget": dict(allowance or {}),
        "agent": {"max_turns": config.agent.max_turns},
        "tools": {
            "timeout_ms": config.tools.timeout_ms,
            "confine_writes": config.tools.confine_writes,
            "block_internal_http": config.tools.block_internal_http,
            "max_observation_chars": config.tools.max_observation_chars,
        },
        "sandbox": {
            "require": config.sandbox.require,
            "limits": {k: (v or None) for k, v in limits.items()},
            "scratch_dir": str(home.scratch / request.run_id),
            "protected": protected_paths(home, config),
            "workspace_root": os.path.realpath(home.root / "work"),
        },
    }
    return spec


def backend_settings(backend: BackendConfig, retries: int | None) -> dict[str, Any]:
    """What a worker needs of one backend to call it and price its answers."""
    return {
        "base_url": backend.base_url,
        "model": backend.model,
        "api": backend.api,
        "timeout_ms": backend.timeout_ms,
        "extra_body": dict(backend.extra_body),
        "retries": backend.retries if retries is None else retries,
        "prices": {
            "input": backend.price_per_mtok_input,
            "output": backend.price_per_mtok_output,
        },
    }
