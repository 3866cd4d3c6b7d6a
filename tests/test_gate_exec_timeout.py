"""`scoot --timeout SECONDS -e GOAL` and `[agent] exec_timeout_sec`: a stuck run ends, recorded `timeout`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, runs, write_config

HANG = {"default": [{"hang": True}]}


@pytest.mark.parametrize(
    ("args", "agent"),
    [
        (("--timeout", "2"), {}),
        ((), {"exec_timeout_sec": 2}),
        (("--timeout", "2"), {"exec_timeout_sec": 600}),
    ],
)
def test_a_stuck_model_ends_by_timeout_with_one_line(
    tmp_path: Path, args: tuple[str, ...], agent: dict
) -> None:
    home = tmp_path / "home"
    with ScriptedModel(HANG) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"enabled": False},
            sections={"agent": agent, "backend": {"timeout_ms": 600000}}
            if agent
            else {"backend": {"timeout_ms": 600000}},
        )
        started = time.monotonic()
        done = run_scoot(home, *args, "-e", "wait forever", timeout=120)
        took = time.monotonic() - started
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == ["scoot: run failed (timeout): timed out after 2 s"]
    assert took < 60  # ended by the limit, not by the backend's own 600 s timeout
    (row,) = runs(home)
    assert row["status"] == "timeout" and row["origin"] == "cli"


def test_timeout_is_refused_without_e(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    done = run_scoot(home, "--timeout", "5", "config")
    assert done.returncode == 2 and "--timeout only applies to -e" in done.stderr
    bad = run_scoot(home, "--timeout", "-1", "-e", "x")
    assert bad.returncode == 2 and "--timeout" in bad.stderr


def test_a_run_within_its_limit_is_unaffected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "quick"}]}) as model:
        write_config(home, base_url=model.base_url, schedule={"enabled": False})
        done = run_scoot(home, "--timeout", "60", "-e", "be quick")
    assert done.returncode == 0 and done.stdout == "quick\n"
