"""The supervisor keeps what `--ticks` reporting needs, bounded: RSS stays flat over runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.memory import rss_over_runs

RUNS = 2500
WARMUP = 500
MIB = 1 << 20


@pytest.mark.timeout(180)
def test_rss_is_flat_over_thousands_of_runs(tmp_path: Path) -> None:
    figures = rss_over_runs(tmp_path / "home", RUNS, WARMUP)
    assert figures.runs == RUNS
    shown = ", ".join(f"{n}: {rss / MIB:.1f}" for n, rss in figures.samples)
    assert figures.growth < 2 * MIB, f"RSS grew {figures.growth / MIB:.2f} MiB ({shown})"
