"""bench/warm_start.py runs once, tiny, against the real `scoot`, so the script cannot rot."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

WARM = Path(__file__).resolve().parent.parent / "bench" / "warm_start.py"


@pytest.mark.timeout(120)
def test_both_figures_are_measured_on_a_start_that_reads_the_parsed_copy() -> None:
    scoot = shutil.which("scoot")
    assert scoot is not None, "the scoot console script is not on PATH"
    done = subprocess.run(
        [sys.executable, str(WARM), "both", "--json", "--scoot", scoot, "--runs", "1"]
        + ["--jobs", "3", "--settle", "0.3"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    results = {r["scenario"]: r for r in map(orjson.loads, done.stdout.splitlines())}
    assert list(results) == ["warm-spawn", "warm-rss"]
    for name, result in results.items():
        assert len(result["samples"]) == 1 and result["median"] > 0 and result["ratio"] > 0, name
    assert len(results["warm-spawn"]["cpu_ms"]) == 1
    assert results["warm-rss"]["checks"]["bare_interpreter_rss_mib"] > 0
