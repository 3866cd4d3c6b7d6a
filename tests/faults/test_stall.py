"""The daemon stopped (SIGSTOP) while its runs go on: the records stay honest.

A run's duration is its worker's, from its own start to its own end, so a
run that went past its limit while nobody watched is a timeout, and a run
that finished in time is ok with its own duration, not the stall's. The
daemon says it stalled, and for how long.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.faults.support import start_daemon, tally
from tests.helpers import audit, runs, stop, wait_for, write_config

SCENARIO = "daemon stopped"
STOP_SEC = 5.0


@pytest.mark.timeout(120)
def test_a_stall_neither_hides_a_timeout_nor_lengthens_a_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {"default": [{"final": "answered", "delay_ms": 3000}]}
    with ScriptedModel(script) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[
                {"id": "strict", "goal": "g", "every_sec": 3600, "timeout_sec": 2},
                {"id": "lenient", "goal": "g", "every_sec": 3600, "timeout_sec": 60},
            ],
        )
        daemon = start_daemon(home)
        try:
            wait_for(lambda: sum(r["kind"] == "sandbox" for r in audit(home)) == 2, timeout=30)
            daemon.send_signal(signal.SIGSTOP)
            time.sleep(STOP_SEC)  # both workers answer in this time; strict is past its 2 s
            daemon.send_signal(signal.SIGCONT)
            wait_for(lambda: len(runs(home)) == 2, timeout=30)
        finally:
            daemon.send_signal(signal.SIGCONT)
            out, err = stop(daemon)
    by_job = {row["job_id"]: row for row in runs(home)}
    assert by_job["strict"]["status"] == "timeout", by_job["strict"]
    assert by_job["lenient"]["status"] == "ok", by_job["lenient"]
    assert by_job["lenient"]["answer"] == "answered"
    # Its own duration: about the model's 3 s, not the stall's 5 s plus.
    assert 2500 <= by_job["lenient"]["duration_ms"] < STOP_SEC * 1000, by_job["lenient"]
    stalls = [row["stalled_sec"] for row in audit(home) if row["kind"] == "daemon_stalled"]
    # The stop, and its length (a loaded machine may add a stall of its own).
    assert any(STOP_SEC - 2 <= length <= STOP_SEC + 10 for length in stalls), stalls
    assert "stalled" in err
    tally(SCENARIO).trials += 1
    tally(SCENARIO).faults_survived += 1
