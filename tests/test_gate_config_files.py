"""Config and token files are read only when they are regular files of a sane size."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit_kinds, run_scoot, start_scoot, wait_for, write_config


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_zero_link(path: Path) -> None:
    path.symlink_to("/dev/zero")


def make_directory(path: Path) -> None:
    path.mkdir()


def make_huge(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: 100 MB without the disk cost
        handle.truncate(100 * 1024 * 1024)


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (make_fifo, "is a FIFO"),
    "dev-zero": (make_zero_link, "is a character device"),
    "directory": (make_directory, "is a directory"),
    "100MB": (make_huge, "byte limit"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", [("config",), ("schedule", "list"), ("daemon", "status")])
def test_a_config_that_is_not_a_regular_file_is_one_clear_error(
    tmp_path: Path, kind: str, command: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    make, expected = BAD_FILES[kind]
    make(home / "config.toml")
    started = time.monotonic()
    done = run_scoot(home, *command, timeout=20)
    assert time.monotonic() - started < 15  # no hang on a FIFO, no read of /dev/zero
    if command == ("daemon", "status") and done.returncode in (0, 3):
        assert "Traceback" not in done.stderr
        return  # status reads the state files, not the config (3: never started)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(home / "config.toml") in lines[0] and expected in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "100MB"])
def test_a_token_file_that_is_not_a_regular_file_is_refused_with_a_warning(
    tmp_path: Path, kind: str
) -> None:
    home = tmp_path / "home"
    write_config(home, schedule={"enabled": False})
    token = home / "token"
    BAD_FILES[kind][0](token)
    if token.is_file() and not token.is_symlink():
        token.chmod(0o600)
    done = run_scoot(home, "config", timeout=20)
    assert done.returncode == 0, done.stderr
    assert "token file" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(90)
def test_a_reload_that_meets_a_fifo_keeps_the_old_config_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "ok"}]}) as model:
        write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 1}])
        proc = start_scoot(home, "daemon", "run")
        try:
            wait_for(lambda: "job_end" in audit_kinds(home), timeout=30)
            config = home / "config.toml"
            config.unlink()
            make_fifo(config)
            proc.send_signal(signal.SIGHUP)
            time.sleep(1)  # the reload is attempted at the next loop turn
            ends = audit_kinds(home).count("job_end")
            # The old config still fires its job after the failed reload.
            wait_for(lambda: audit_kinds(home).count("job_end") > ends, timeout=30)
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert "reload failed, keeping the previous configuration" in err
    assert "is a FIFO" in err


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_model_script_that_is_not_a_regular_file_is_one_clear_error(
    tmp_path: Path, kind: str
) -> None:
    script = tmp_path / "script.json"
    BAD_FILES[kind][0](script)
    done = run_scoot(None, "serve-model", "--script", str(script), cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert str(script) in line and "not a regular file" in line
