"""Control characters from model and tool text are shown, never obeyed, in every human view."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

from scoot.shared.terminal import printable
from scoot.testing.model_server import ScriptedModel
from tests.helpers import clean_env, read_jsonl, run_scoot, scoot_cmd, write_config

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[1A\r\x9b31m\u202eevil"
SCRIPT = {
    "default": [
        {"thought": "look " + HOSTILE, "action": "glob", "action_input": "*"},
        {"final": "answer " + HOSTILE + "\n\tsecond line"},
    ]
}


def no_controls(text: str) -> None:
    for ch in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert ch not in text, (ch, text[:300])


def test_printable_keeps_newlines_and_tabs_and_shows_the_rest() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("\x1b[2J\x00\x7f\x9b\u202e") == "\\x1b[2J\\x00\\x7f\\x9b\\u202e"
    assert printable("plain ünïcode ✓") == "plain ünïcode ✓"


def read_pty(fd: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    return data


def test_every_human_view_escapes_control_characters(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    (work / ("name" + HOSTILE)).write_text("x")
    with ScriptedModel(SCRIPT) as model:
        write_config(home, base_url=model.base_url, schedule={"enabled": False})
        piped = run_scoot(home, "--trace", "-e", "go", cwd=work)
        assert piped.returncode == 0, piped.stderr
        # To a pipe the answer is the program's output: raw.
        # (text mode reads the model's \r as a newline)
        assert piped.stdout == "answer " + HOSTILE.replace("\r", "\n") + "\n\tsecond line\n"
        no_controls(piped.stderr)  # the trace is for a person
        assert "\\x1b]0;owned" in piped.stderr and "thinking: look" in piped.stderr

        main, secondary = pty.openpty()
        proc = subprocess.Popen(
            scoot_cmd("-e", "go"),
            env=clean_env(home),
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=subprocess.PIPE,
        )
        os.close(secondary)
        try:
            shown = read_pty(main, proc).decode("utf-8", "replace")
            assert proc.wait(timeout=60) == 0
        finally:
            os.close(main)
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert "answer \\x1b]0;owned" in shown
    # The terminal itself turns \n into \r\n; any other \r would be the model's.
    no_controls(shown.replace("\r\n", "\n"))

    (session,) = [p.stem for p in (home / "state" / "sessions").glob("cli-*.jsonl")][:1]
    for args in (
        ("session", "show", session),
        ("sessions", "list"),
        ("schedule", "history"),
        ("audit", "show"),
        ("audit", "show", session),
    ):
        done = run_scoot(home, *args)
        assert done.returncode == 0, (args, done.stderr)
        no_controls(done.stdout)
    assert "\\x1b" in run_scoot(home, "session", "show", session).stdout
    # The records keep the text as it was (escaping is for display only).
    rows = read_jsonl(home / "state" / "sessions" / f"{session}.jsonl")
    assert any(HOSTILE in row["content"] for row in rows)
    assert json.loads(run_scoot(home, "schedule", "history", "--json").stdout)["runs"]
