"""`scoot setup` (interactive and scripted), the provisioning flow, and `scoot doctor`."""

from __future__ import annotations

import ctypes
import json
import os
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from scoot.instance.config import load_config
from scoot.instance.home import SUBDIRS, Home

TOKEN = "sk-setup-5f1e9c0d-never-in-config"


def one_error_line(err: str) -> str:
    assert "Traceback" not in err and "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def kernel_landlock_abi() -> int:
    """Ask the kernel directly: landlock_create_ruleset(NULL, 0, VERSION); 0 when absent."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(abi), 0)


# --- non-interactive ---------------------------------------------------------------------


def test_non_interactive_writes_a_loadable_commented_config(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, out, err = run_main("--scoot-home", str(root), "setup", "--non-interactive")
    assert code == 0, err
    assert f"wrote {root / 'config.toml'}" in out
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for sub in SUBDIRS:
        assert (root / sub).is_dir()
    text = (root / "config.toml").read_text()
    assert text.count("\n#") >= 5  # commented for the reader
    assert "[[schedule.jobs]]" in text  # the commented example
    assert stat.S_IMODE((root / "config.toml").stat().st_mode) == 0o600
    loaded = load_config(Home(root), {})
    assert loaded.warnings == ()
    assert loaded.config.schedule.enabled is False
    assert loaded.config.backend.api_key_env == "OPENAI_API_KEY"
    assert not (root / "token").exists()


def test_every_flag_lands_in_the_config(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, _, err = run_main(
        "setup",
        "--scoot-home",
        str(root),
        "--non-interactive",
        "--base-url",
        "https://models.example/v1",
        "--model",
        'quote"and\\slash',
        "--api",
        "responses",
        "--token-source",
        "command",
        "--api-key-cmd",
        "pass show scoot/token",
        "--max-turns",
        "7",
        "--policy",
        "readonly",
        "--enable-schedule",
    )
    assert code == 0, err
    config = load_config(Home(root), {}).config
    assert config.backend.base_url == "https://models.example/v1"
    assert config.backend.model == 'quote"and\\slash'
    assert config.backend.api == "responses"
    assert config.backend.api_key_cmd == "pass show scoot/token"
    assert config.agent.max_turns == 7
    assert config.tools.policy == "readonly"
    assert config.schedule.enabled is True


def test_env_token_source_names_the_variable(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, _, _ = run_main(
        "--scoot-home", str(root), "setup", "--non-interactive", "--api-key-env", "MY_MODEL_KEY"
    )
    assert code == 0
    assert load_config(Home(root), {}).config.backend.api_key_env == "MY_MODEL_KEY"


def test_token_from_stdin_goes_to_the_0600_file_only(run_scoot, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, out, err = run_scoot(
        "--scoot-home",
        str(root),
        "setup",
        "--non-interactive",
        "--token-source",
        "file",
        "--token-stdin",
        input=TOKEN + "\n",
    )
    assert code == 0, err
    token_file = root / "token"
    assert token_file.read_text().strip() == TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert TOKEN not in (root / "config.toml").read_text()
    assert TOKEN not in out + err
    # The token is found again, by source, without being shown.
    code, out, err = run_scoot("--scoot-home", str(root), "config")
    assert code == 0
    assert f"token: file:{token_file}" in out
    assert TOKEN not in out + err


def test_token_stdin_implies_the_file_source(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, _, err = run_main(
        "--scoot-home",
        str(root),
        "setup",
        "--non-interactive",
        "--token-stdin",
        input=TOKEN + "\n",
    )
    assert code == 0, err
    assert (root / "token").read_text().strip() == TOKEN
    assert TOKEN not in (root / "config.toml").read_text()


def test_token_stdin_with_another_source_is_refused(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, _, err = run_main(
        "--scoot-home",
        str(root),
        "setup",
        "--non-interactive",
        "--token-source",
        "env",
        "--token-stdin",
        input=TOKEN + "\n",
    )
    assert code == 2
    assert "--token-source file" in one_error_line(err)
    assert not root.exists()


@pytest.mark.parametrize("given", ["", "\n", "   \n"])
def test_token_stdin_without_a_token_is_refused(run_main, tmp_path: Path, given: str) -> None:
    root = tmp_path / "inst"
    code, _, err = run_main(
        "--scoot-home", str(root), "setup", "--non-interactive", "--token-stdin", input=given
    )
    assert code == 2
    assert "--token-stdin read no token" in one_error_line(err)
    assert not root.exists()


def test_refuses_to_overwrite_without_force(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    assert run_main("--scoot-home", str(root), "setup", "--non-interactive").code == 0
    config = root / "config.toml"
    config.write_text(config.read_text() + "\n# my own edit\n")
    before = config.read_bytes()
    code, out, err = run_main(
        "--scoot-home", str(root), "setup", "--non-interactive", "--model", "other"
    )
    assert code == 2
    line = one_error_line(err)
    assert str(config) in line and "--force" in line
    assert config.read_bytes() == before
    code, _, _ = run_main(
        "--scoot-home", str(root), "setup", "--non-interactive", "--model", "other", "--force"
    )
    assert code == 0
    assert load_config(Home(root), {}).config.backend.model == "other"


def test_existing_json_config_also_counts(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    root.mkdir()
    (root / "config.json").write_text("{}")
    code, _, err = run_main("--scoot-home", str(root), "setup", "--non-interactive")
    assert code == 2
    assert "config.json already exists" in one_error_line(err)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--base-url", "ftp://x"], "--base-url"),
        (["--max-turns", "0"], "--max-turns"),
        (["--max-turns", "many"], "--max-turns"),
        (["--model", "  "], "--model"),
        (["--token-source", "command"], "--api-key-cmd"),
        (["--api", "soap"], "--api"),
        (["--policy", "loose"], "--policy"),
    ],
)
def test_bad_setup_flags(run_main, tmp_path: Path, args: list[str], needle: str) -> None:
    root = tmp_path / "inst"
    code, _, err = run_main("--scoot-home", str(root), "setup", "--non-interactive", *args)
    assert code == 2
    assert needle in one_error_line(err)
    assert not (root / "config.toml").exists()


def test_control_characters_in_flags_still_give_a_loadable_file(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    model = "odd\x7fname\ttab"
    code, _, err = run_main(
        "--scoot-home", str(root), "setup", "--non-interactive", "--model", model
    )
    assert code == 0, err
    assert tomllib.loads((root / "config.toml").read_text())["backend"]["model"] == model


def test_argument_that_is_not_utf8_is_refused(run_scoot, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    code, _, err = run_scoot(
        "--scoot-home",
        str(root),
        "setup",
        "--non-interactive",
        "--model",
        os.fsdecode(b"caf\xe9"),
    )
    assert code == 2
    assert "--model" in one_error_line(err)
    assert not (root / "config.toml").exists()


# --- interactive ---------------------------------------------------------------------------


def test_interactive_setup_answers_every_prompt(run_main, tmp_path: Path) -> None:
    root = tmp_path / "asked"
    answers = [
        str(root),  # runtime directory
        "http://127.0.0.1:9999/v1",  # base URL
        "llama3",  # model
        "responses",  # API
        "file",  # token source
        TOKEN,  # pasted token (hidden)
        "12",  # max turns
        "readonly",  # policy for -e
        "y",  # enable the schedule
    ]
    code, out, err = run_main("setup", input="\n".join(answers) + "\n")
    assert code == 0, out + err
    for prompt in (
        "Runtime directory",
        "Model backend base URL",
        "Model name",
        "Backend API",
        "Token source",
        "Paste the token",
        "Agent max turns",
        "Policy for scoot -e",
        "Enable scheduled jobs now?",
    ):
        assert prompt in out, prompt
    assert TOKEN not in out + err
    config = load_config(Home(root), {}).config
    assert config.backend.base_url == "http://127.0.0.1:9999/v1"
    assert config.backend.model == "llama3"
    assert config.backend.api == "responses"
    assert config.agent.max_turns == 12
    assert config.tools.policy == "readonly"
    assert config.schedule.enabled is True
    assert (root / "token").read_text().strip() == TOKEN
    assert TOKEN not in (root / "config.toml").read_text()


def test_interactive_defaults_and_env_source(run_main, tmp_path: Path) -> None:
    root = tmp_path / "defaults"
    # Enter keeps each default; the env source asks for the variable's name.
    answers = ["", "", "", "env", "TEAM_KEY", "", "", ""]
    code, out, err = run_main("--scoot-home", str(root), "setup", input="\n".join(answers) + "\n")
    assert code == 0, out + err
    assert "Runtime directory" not in out  # given by --scoot-home
    config = load_config(Home(root), {}).config
    assert config.backend.base_url == "http://127.0.0.1:11434/v1"
    assert config.backend.api_key_env == "TEAM_KEY"
    assert config.agent.max_turns == 32
    assert config.schedule.enabled is False


def test_interactive_command_source_asks_for_the_command(run_main, tmp_path: Path) -> None:
    root = tmp_path / "cmd"
    answers = ["", "", "", "command", "cat /run/secrets/model", "", "", "n"]
    code, out, err = run_main("--scoot-home", str(root), "setup", input="\n".join(answers) + "\n")
    assert code == 0, out + err
    assert "Command that prints the token" in out
    assert load_config(Home(root), {}).config.backend.api_key_cmd == "cat /run/secrets/model"


def test_interactive_setup_asks_before_overwriting(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    assert run_main("--scoot-home", str(root), "setup", "--non-interactive").code == 0
    before = (root / "config.toml").read_bytes()
    code, out, _ = run_main("--scoot-home", str(root), "setup", input="n\n")
    assert code == 1
    assert "Overwrite it?" in out and "unchanged" in out
    assert (root / "config.toml").read_bytes() == before


def test_interactive_setup_with_closed_stdin_aborts_cleanly(run_main, tmp_path: Path) -> None:
    code, _, err = run_main("--scoot-home", str(tmp_path / "inst"), "setup", input="")
    assert code != 0
    assert one_error_line(err) == "scoot: aborted"
    assert not (tmp_path / "inst" / "config.toml").exists()


# --- the provisioning flow -----------------------------------------------------------------


def test_provision_then_list(run_scoot, tmp_path: Path) -> None:
    code, out, err = run_scoot(
        "--scoot-home",
        "./inst",
        "setup",
        "--non-interactive",
        "--model",
        "llama3",
        "--enable-schedule",
        cwd=tmp_path,
    )
    assert code == 0, err
    config = tmp_path / "inst" / "config.toml"
    assert config.exists()
    with config.open("a") as handle:
        handle.write(
            '\n[[schedule.jobs]]\nid = "disk-check"\n'
            'goal = "Inspect disk usage and summarize anomalies"\nevery_sec = 300\n'
        )
    code, out, err = run_scoot("--scoot-home", "./inst", "schedule", "list", cwd=tmp_path)
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"schedule: enabled   poll_ms: 1000   jobs: 1   config: {config}"
    assert lines[1] == "ACTIVE   disk-check  every 5m  mode=readonly"


# --- doctor --------------------------------------------------------------------------------


def test_doctor_is_ok_on_a_fresh_setup(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    assert run_main("--scoot-home", str(root), "setup", "--non-interactive").code == 0
    code, out, err = run_main("--scoot-home", str(root), "doctor")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1].startswith("doctor: OK (0 failures")
    assert f"OK    runtime dir: {root} (mode 0700)" in lines
    assert f"OK    config: {root / 'config.toml'}" in lines
    assert any(line.startswith("OK    audit: ") for line in lines)
    assert not any(line.startswith("FAIL") for line in lines)


def test_doctor_reports_the_kernel_landlock_abi(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    assert run_main("--scoot-home", str(root), "setup", "--non-interactive").code == 0
    code, out, _ = run_main("--scoot-home", str(root), "doctor", "--json")
    sandbox = [c for c in json.loads(out)["checks"] if c["name"] == "sandbox"]
    assert len(sandbox) == 1
    abi = kernel_landlock_abi()
    if abi:
        assert f"Landlock ABI {abi}" in sandbox[0]["detail"]
    else:
        assert sandbox[0]["status"] == "warn"
        assert "policy gate alone" in sandbox[0]["detail"]


def test_doctor_fails_on_a_world_readable_token(run_main, tmp_path: Path) -> None:
    root = tmp_path / "inst"
    assert run_main("--scoot-home", str(root), "setup", "--non-interactive").code == 0
    token = root / "token"
    token.write_text(TOKEN)
    token.chmod(0o644)
    code, out, err = run_main("--scoot-home", str(root), "doctor")
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "token" in fails[0] and f"chmod 600 {token}" in fails[0]
    assert out.splitlines()[-1].startswith("doctor: FAILED (1 failures")
    assert TOKEN not in out + err


def test_doctor_on_a_missing_home_says_run_setup(run_main, tmp_path: Path) -> None:
    code, out, _ = run_main("--scoot-home", str(tmp_path / "nowhere"), "doctor")
    assert code == 1
    assert "run `scoot setup`" in out
    assert not (tmp_path / "nowhere").exists()


def test_doctor_on_a_broken_config(run_main, home: Home) -> None:
    home.config_toml.write_text("[backend\n")
    code, out, _ = run_main("--scoot-home", str(home.root), "doctor")
    assert code == 1
    assert any(
        line.startswith("FAIL  config: ") and f"{home.config_toml}:1:" in line
        for line in out.splitlines()
    )


def test_doctor_warns_about_invalid_jobs(run_main, home: Home) -> None:
    home.config_toml.write_text('[[schedule.jobs]]\nid = "x"\ngoal = "g"\nevery_sec = 0\n')
    code, out, _ = run_main("--scoot-home", str(home.root), "doctor")
    assert code == 0
    assert "WARN  job: x: every_sec must be between 1 and" in out
