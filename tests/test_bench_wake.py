"""bench/wake_cost.py runs once, tiny, so the script cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

WAKE = Path(__file__).resolve().parent.parent / "bench" / "wake_cost.py"


@pytest.mark.timeout(60)
def test_it_prints_the_cpu_of_one_wake_and_of_a_minute_of_them() -> None:
    done = subprocess.run(
        [sys.executable, str(WAKE), "--wakes", "5", "--period", "0.01", "--runs", "2"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stderr
    found = re.fullmatch(
        r"bare epoll wake every 0\.01 s: median (\d+\.\d{3}) ms CPU per wake "
        r"\(min \d+\.\d{3}, max \d+\.\d{3}, n=2\), (\d+\.\d) ms/min\n",
        done.stdout,
    )
    assert found, done.stdout
    per_wake, per_minute = float(found[1]), float(found[2])
    # The same median, shown per minute: equal but for the per-wake figure's rounding.
    assert per_wake > 0 and abs(per_minute - per_wake * 6000) <= 0.0005 * 6000 + 0.05
