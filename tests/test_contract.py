"""The parent/worker contract lives in scoot.shared: the parent's process code needs no worker."""

from __future__ import annotations

import subprocess
import sys


def test_the_process_code_of_the_parent_imports_no_worker_module() -> None:
    probe = "import sys, scoot.supervise.procs; print(sorted(m for m in sys.modules if m.split('.')[0] == 'worker'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
