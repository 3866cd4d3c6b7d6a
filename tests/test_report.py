"""`schedule history --timeline` and `report --html`, the page rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, runs, write_config

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture
def home(tmp_path: Path):
    """A runtime directory with two jobs run for real, and an older day of failures."""
    with ScriptedModel(
        {"rules": [{"match": "broken", "steps": [{"status": 500}]}], "default": [{"final": "ok"}]}
    ) as model:
        home = tmp_path / "home"
        write_config(
            home,
            base_url=model.base_url,
            jobs=[
                {"id": "backup", "goal": "quick", "every_sec": 3600},
                {"id": "flaky", "goal": "broken", "every_sec": 3600},
                {"id": "idle", "goal": "quick", "cron": "0 0 1 1 *"},
            ],
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert done.returncode == 1  # flaky failed
    now = time.time()
    older = [
        {
            "run_id": f"r-old-{i}",
            "job_id": "backup",
            "origin": "schedule",
            "mode": "readonly",
            "instant": now - 86400 - i * 3600,
            "started_at": now - 86400 - i * 3600 + 0.02,
            "ended_at": now - 86400 - i * 3600 + 30,
            "status": "timeout" if i == 3 else "ok",
            "exit_code": 0,
            "duration_ms": 30000,
        }
        for i in range(6)
    ]
    with open(home / "state" / "runs.jsonl", "a") as handle:
        for row in older:
            handle.write(json.dumps(row) + "\n")
    return home


def test_timeline_plain_symbols_one_line_per_job(home: Path) -> None:
    done = run_scoot(home, "schedule", "history", "--timeline", "--days", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("runs of the last 3 day(s), since ")
    assert "\x1b[" not in done.stdout  # not a terminal: no colour codes
    by_job = {line.split()[0]: line for line in lines[1:]}
    assert set(by_job) == {"backup", "flaky", "idle"}
    # Six old runs then today's, oldest first: one cell each.
    assert "|++t++++ | 6/7 ok" in by_job["backup"]
    assert "|x | 0/1 ok" in by_job["flaky"]
    assert "|| 0/0 ok" in by_job["idle"]
    one_day = run_scoot(home, "schedule", "history", "--timeline", "--days", "0.5", "backup")
    assert one_day.stdout.splitlines()[1:] == ["backup |+ | 1/1 ok"]


def test_timeline_is_coloured_on_a_terminal(home: Path) -> None:
    # `script` gives the command a pseudo-terminal, as a user's shell does.
    if shutil.which("script") is None:
        pytest.skip("script(1) is not installed")
    command = f"scoot --scoot-home {home} schedule history --timeline"
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=30
    )
    assert "\x1b[32m+\x1b[0m" in done.stdout and "\x1b[31mx\x1b[0m" in done.stdout


def test_timeline_refuses_json_and_days_alone(home: Path) -> None:
    for args, words in (
        (("--timeline", "--json"), "--timeline prints text"),
        (("--days", "2"), "--days goes with --timeline"),
        (("--timeline", "--days", "0"), "--days"),
    ):
        done = run_scoot(home, "schedule", "history", *args)
        assert done.returncode == 2 and words in done.stderr, done
        assert "Traceback" not in done.stderr


def test_report_is_self_contained(home: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    done = run_scoot(home, "report", "--html", str(page), "--days", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {page}: 8 run(s) of the last 3 day(s)"
    text = page.read_text()
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched
    assert "@import" not in text and "url(" not in text
    assert text.count('<section class="job"') == 3
    assert text.count('class="run run-') == len(runs(home))


def test_report_into_a_missing_directory_is_one_line(home: Path, tmp_path: Path) -> None:
    done = run_scoot(home, "report", "--html", str(tmp_path / "no" / "such" / "r.html"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "cannot write" in done.stderr
    assert "Traceback" not in done.stderr


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (filter bytes included)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@needs_chromium
@pytest.mark.timeout(180)
def test_report_renders_in_headless_chromium(home: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert run_scoot(home, "report", "--html", str(page), "--days", "3").returncode == 0

    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for job in ("backup", "flaky", "idle"):
        assert f'<section class="job" data-job="{job}">' in html
        assert f'<svg class="timeline" data-job="{job}"' in html
    assert html.count('class="run run-ok"') == 6
    assert html.count('class="run run-error"') == 1
    assert html.count('class="run run-timeout"') == 1
    assert '<table id="status-counts">' in html
    assert '<svg id="duration-chart"' in html and '<svg id="lateness-chart"' in html
    assert html.count('class="point"') >= 2 * 8  # a duration and a lateness point per run

    shot = tmp_path / "report.png"
    drawn = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1040,1400", page.as_uri())
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1040, 1400)
    # A blank page is one colour: its scanlines are nearly all one byte value.
    assert len(set(raw)) > 50
    ink = sum(1 for byte in raw if byte not in (0, 255))
    assert ink > len(raw) // 200
