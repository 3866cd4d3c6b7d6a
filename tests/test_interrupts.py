"""Ctrl-C on `schedule trigger` and `-e`: said at once, a second one stops the run, recorded truly."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import clean_env, runs, scoot_cmd, wait_for, write_config

HANG = {"default": [{"hang": True}]}


class Lines:
    """stderr of a real process, read as it comes, each line with its arrival time."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - a text pipe
        self.seen: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:  # noqa: ANN001
        for line in stream:
            self.seen.append((time.monotonic(), line.rstrip("\n")))

    def first(self, needle: str) -> tuple[float, str] | None:
        return next(((t, line) for t, line in self.seen if needle in line), None)

    def join(self) -> None:
        self._thread.join(timeout=10)


@pytest.mark.parametrize(
    "args",
    [["schedule", "trigger", "slow"], ["-e", "wait for the model"]],
    ids=["trigger", "exec"],
)
def test_first_ctrl_c_says_what_happens_second_stops_the_run(
    tmp_path: Path, args: list[str]
) -> None:
    home = tmp_path / "home"
    with ScriptedModel(HANG) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"shutdown_grace_sec": 30},
            jobs=[{"id": "slow", "goal": "wait for the model", "every_sec": 3600}],
        )
        proc = subprocess.Popen(
            scoot_cmd(*args),
            env=clean_env(home),
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = Lines(proc.stderr)
        try:
            wait_for(lambda: model.requests, timeout=30)  # the run is waiting on the model
            proc.send_signal(signal.SIGINT)
            notice = wait_for(lambda: lines.first("interrupted"), timeout=10)
            assert notice[1] == (
                "scoot: interrupted: waiting up to 30 s for 1 run; Ctrl-C again to stop it now"
            )
            time.sleep(0.5)
            assert proc.poll() is None  # the run has its grace
            second_sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            lines.join()
    assert notice[0] < second_sent  # said at the first Ctrl-C, not at the end
    assert code == 130
    assert lines.first("stopping 1 run now") is not None
    assert proc.stdout is not None and proc.stdout.read() == ""
    (record,) = runs(home)
    assert record["status"] == "interrupted"
    assert record["error"] == "stopped by Ctrl-C (SIGINT) before it finished"
    assert "daemon" not in record["error"]
    text = "\n".join(line for _, line in lines.seen)
    assert "daemon" not in text and "Traceback" not in text
