"""Run specs for tests and benches that start workers or agents without a runtime directory."""

from __future__ import annotations

import copy
from typing import Any

from scoot.shared.run_spec import RUN_SPEC_VERSION, RunSpec


def backend_wire(base_url: str = "http://127.0.0.1:9/v1", **fields: Any) -> dict[str, Any]:
    """One backend of a spec in its wire form; `fields` replace the defaults."""
    backend: dict[str, Any] = {
        "name": "default",
        "token": None,
        "base_url": base_url,
        "model": "scripted",
        "api": "chat",
        "timeout_ms": 5000,
        "extra_body": {},
        "retries": 0,
        "prices": {"input": 0.0, "output": 0.0},
    }
    backend.update(fields)
    return backend


def wire_spec(scratch: str = "/nonexistent", cwd: str = "/", **overrides: Any) -> dict[str, Any]:
    """A complete spec in its wire form; a dict override is merged into the section it names."""
    spec: dict[str, Any] = {
        "version": RUN_SPEC_VERSION,
        "run_id": "run-1",
        "session_id": "job-test",
        "job_id": "test",
        "goal": "inspect the notes",
        "mode": "readonly",
        "cwd": cwd,
        "api_key_env": None,
        "backend": backend_wire(),
        "fallbacks": [],
        "budget": {"max_tokens": None, "max_cost": None},
        "max_turns": 8,
        "tools": {
            "timeout_ms": 5000,
            "confine_writes": True,
            "block_internal_http": True,
            "max_observation_chars": 8000,
        },
        "protected": {"paths": [], "allowed": []},
        "sandbox": {
            "require": False,
            "limits": {
                "cpu_sec": None,
                "address_space_mb": None,
                "nofile": None,
                "nproc": None,
                "fsize_mb": None,
            },
            "scratch_dir": scratch,
            "protected": [],
            "workspace_root": "/nonexistent/work",
        },
        "expect_schema": None,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **copy.deepcopy(value)}
        else:
            spec[key] = copy.deepcopy(value)
    return spec


def run_spec(scratch: str = "/nonexistent", cwd: str = "/", **overrides: Any) -> RunSpec:
    """The typed spec of `wire_spec` with the same arguments."""
    return RunSpec.from_dict(wire_spec(scratch, cwd, **overrides))
