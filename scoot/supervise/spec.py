"""Run specs: everything a worker needs for one run, sent to it once over a pipe."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from itertools import count
from pathlib import Path
from typing import Any

from scoot.instance.config import BackendConfig, Config, all_backends
from scoot.instance.home import Home
from scoot.instance.secrets import token_file_path
from scoot.schedule.jobs import Job
from scoot.shared.limits import LIMIT_KEYS
from scoot.shared.policy.paths import ProtectedPaths
from scoot.shared.run_spec import BackendSpec, RunSpec, SandboxSpec, ToolSettings
from scoot.shared.spend.backends import chain
from scoot.shared.spend.budget import Allowance
from scoot.supervise.runner import RunRequest

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


def token_files(home: Home, config: Config) -> tuple[Path, ...]:
    """Every backend's token file: all of them are off limits to a run's tools."""
    return tuple(token_file_path(home, backend) for backend in all_backends(config).values())


def kernel_protected_paths(home: Home, config: Config) -> list[str]:
    """What no tool of a confined run may read or write: the runtime directory,
    and the config and every backend's token file wherever their links lead."""
    paths = [home.root, home.config_toml, home.config_json, *token_files(home, config)]
    return sorted({os.path.realpath(path) for path in paths})


def protected_paths(
    home: Home, cwd: str, scratch: Path, extra: tuple[Path, ...] = ()
) -> dict[str, list[str]]:
    """What no tool may touch outside unrestricted, resolved: the runtime directory, the
    config file and the token file wherever their links lead, and any `extra` file.

    The run's own scratch directory is carved out, and so is its working
    directory when it lies inside the runtime directory (a job's workspace
    under `<home>/work/`, or a `cwd` the config puts there) as long as it holds
    none of scoot's own files: not the root, `state`, `logs`, config or token.
    """
    paths = [home.root, home.config_toml, home.config_json, *extra]
    real = sorted({os.path.realpath(p) for p in paths})
    root = os.path.realpath(home.root)
    real_cwd = os.path.realpath(cwd)
    allowed = [os.path.realpath(scratch)]
    own = [os.path.realpath(p) for p in (home.state, home.logs, *paths[1:])]
    if real_cwd.startswith(root + "/") and not any(
        p == real_cwd or p.startswith(real_cwd + "/") or real_cwd.startswith(p + "/") for p in own
    ):
        allowed.append(real_cwd)
    return {"paths": real, "allowed": allowed}


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
    expect_schema: Mapping[str, Any] | None = None,
) -> RunSpec:
    """The spec of one run: the request resolved against the configuration.

    `expect_schema` is the job's result schema, told to the model; the answer
    is checked against it in the parent after the run.
    """
    backends = all_backends(config)
    names = chain(backends, backend_name) or ["default"]
    if names[0] != "default" and token_for is not None:
        token = token_for(names[0])
    fallbacks = tuple(
        backend_spec(
            name, backends[name], token_for(name) if token_for is not None else token, retries
        )
        for name in names[1:]
    )
    scratch = home.scratch / request.run_id
    given = dict(allowance or {})
    shielded = protected_paths(home, cwd, scratch, token_files(home, config))
    return RunSpec(
        run_id=request.run_id,
        session_id=request.session_id,
        job_id=request.job_id,
        goal=request.goal,
        mode=request.mode,
        cwd=cwd,
        api_key_env=backends[names[0]].api_key_env or None,
        backend=backend_spec(names[0], backends[names[0]], token, retries),
        fallbacks=fallbacks,
        budget=Allowance(given.get("max_tokens"), given.get("max_cost")),
        max_turns=config.agent.max_turns,
        tools=ToolSettings(
            timeout_ms=config.tools.timeout_ms,
            confine_writes=config.tools.confine_writes,
            block_internal_http=config.tools.block_internal_http,
            max_observation_chars=config.tools.max_observation_chars,
        ),
        protected=ProtectedPaths(tuple(shielded["paths"]), tuple(shielded["allowed"])),
        sandbox=SandboxSpec(
            require=config.sandbox.require,
            limits={key: (value or None) for key, value in limits.items()},
            scratch_dir=str(scratch),
            protected=tuple(kernel_protected_paths(home, config)),
            workspace_root=os.path.realpath(home.root / "work"),
        ),
        expect_schema=expect_schema,
    )


def backend_spec(
    name: str, backend: BackendConfig, token: str | None, retries: int | None
) -> BackendSpec:
    """What a worker needs of one backend to call it and price its answers."""
    return BackendSpec(
        name=name,
        token=token,
        base_url=backend.base_url,
        model=backend.model,
        api=backend.api,
        timeout_ms=backend.timeout_ms,
        extra_body=dict(backend.extra_body),
        retries=backend.retries if retries is None else retries,
        price_input=backend.price_per_mtok_input,
        price_output=backend.price_per_mtok_output,
    )
