"""bench/edges.py: every scenario runs once, tiny, against the real `scoot`, so the scripts cannot rot."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

EDGES = Path(__file__).resolve().parent.parent / "bench" / "edges.py"
TINY = ["--runs", "1", "--jobs", "3", "--lead", "2", "--settle", "0.3", "--window", "0.6"]
SCENARIOS = ["tick", "list3", "list10k", "spawn", "rss", "burst", "sustained", "idle"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_runs_once_and_reports_its_figure(scenario: str) -> None:
    scoot = shutil.which("scoot")
    assert scoot is not None, "the scoot console script is not on PATH"
    done = subprocess.run(
        [sys.executable, str(EDGES), scenario, "--json", "--scoot", scoot, *TINY],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    result = orjson.loads(line)
    assert result["scenario"] == scenario
    assert len(result["samples"]) == 1 and len(result["anchor_ms"]) == 1
    assert result["anchor_median_ms"] > 0
    if scenario == "idle":  # a settled daemon may not run at all in a short window
        assert result["median"] >= 0 and checks_rss(result) > 0
    else:
        assert result["median"] > 0 and result["ratio"] > 0
    checks = result["checks"]
    if scenario in ("burst", "sustained"):
        assert checks["ok"] == 3 and checks["lost"] == 0 and checks["doubled"] == 0
    if scenario == "burst":
        assert checks["requests"] == 3
    if scenario == "rss":
        assert checks["bare_interpreter_rss_mib"] > 0


def checks_rss(result: dict) -> float:
    return float(result["checks"]["rss_mib"])


def test_usage_error_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, str(EDGES), "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "Traceback" not in done.stderr
