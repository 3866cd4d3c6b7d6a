"""Prints the fault suite's figures at the end of the session (and saves them when asked)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from tests.faults.support import FIGURES, TRIALS_ENV, figures_table

FIGURES_FILE_ENV = "SCOOT_FAULT_FIGURES"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    mode = os.environ.get(TRIALS_ENV) or "default"
    terminalreporter.section(f"scoot fault figures (trials: {mode})")
    for line in figures_table():
        terminalreporter.write_line(line)
    target = os.environ.get(FIGURES_FILE_ENV)
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({name: asdict(t) for name, t in FIGURES.items()}, handle, indent=2)
