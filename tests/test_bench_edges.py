"""bench/edges.py: every scenario runs once, tiny, against the real `scoot`, so the script cannot rot."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

EDGES = Path(__file__).resolve().parent.parent / "bench" / "edges.py"
TINY = ["--runs", "1", "--jobs", "3", "--lead", "2", "--settle", "0.3", "--window", "0.6"]
SCENARIOS = [
    "tick",
    "list3",
    "list10k",
    "list10k-kept",
    "spawn",
    "rss",
    "burst",
    "sustained",
    "idle",
    "ledger",
]


@pytest.mark.timeout(150)
def test_every_scenario_runs_once_and_reports_its_figure() -> None:
    scoot = shutil.which("scoot")
    assert scoot is not None, "the scoot console script is not on PATH"
    # One process for all scenarios: each start of the bench costs a second on a loaded machine.
    done = subprocess.run(
        [sys.executable, str(EDGES), "all", "--json", "--scoot", scoot, *TINY],
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stderr
    results = {r["scenario"]: r for r in map(orjson.loads, done.stdout.splitlines())}
    assert list(results) == SCENARIOS
    for name, result in results.items():
        assert len(result["samples"]) == 1 and len(result["ratios"]) == 1, name
        assert result["anchor_median_ms"] > 0, name
        if name == "idle":  # a settled daemon may not run at all in a short window
            assert result["median"] >= 0 and result["checks"]["rss_mib"] > 0
        else:
            assert result["median"] > 0 and result["ratio"] > 0, name
    for name in ("tick", "list3", "list10k", "list10k-kept", "spawn"):
        assert len(results[name]["cpu_ms"]) == 1, name
    for name in ("burst", "sustained"):
        checks = results[name]["checks"]
        assert checks["ok"] == 3 and checks["lost"] == 0 and checks["doubled"] == 0, name
    assert results["burst"]["checks"]["requests"] == 3
    assert results["rss"]["checks"]["bare_interpreter_rss_mib"] > 0
    ledger = results["ledger"]["checks"]
    assert ledger["fsyncs_per_transaction"] >= 1 and ledger["bytes_per_transaction"] > 0


def test_unknown_scenario_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, str(EDGES), "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "Traceback" not in done.stderr
