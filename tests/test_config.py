"""Runtime directory resolution, configuration loading, SCOOT_* overrides and the token."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from scoot.errors import ConfigError
from scoot.instance.config import (
    MAX_WHOLE,
    Config,
    build_config,
    effective_values,
    env_var_name,
    load_config,
    overridable_fields,
)
from scoot.instance.home import SUBDIRS, Home, resolve_home
from scoot.instance.secrets import resolve_token
from tests import unprivileged
from tests.helpers import scoot_cmd

TOKEN = "sk-test-0123456789abcdef-never-shown"


def one_error_line(err: str) -> str:
    """The single stderr line of a failed command; fails on tracebacks and extra lines."""
    assert "Traceback" not in err
    assert "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- runtime directory ----------------------------------------------------------------


def assert_tree(root: Path) -> None:
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for sub in SUBDIRS:
        assert (root / sub).is_dir(), sub
        assert stat.S_IMODE((root / sub).stat().st_mode) == 0o700


def test_scoot_home_option_before_the_command(run_main, tmp_path: Path) -> None:
    root = tmp_path / "before"
    code, out, _ = run_main("--scoot-home", str(root), "config")
    assert code == 0
    assert f"runtime dir: {root}" in out
    assert_tree(root)


def test_scoot_home_option_after_the_command(run_main, tmp_path: Path) -> None:
    root = tmp_path / "after"
    code, out, _ = run_main("config", "--scoot-home", str(root))
    assert code == 0
    assert f"runtime dir: {root}" in out
    assert_tree(root)


def test_scoot_home_option_after_a_nested_command(run_main, tmp_path: Path) -> None:
    root = tmp_path / "nested"
    root.mkdir()
    code, out, _ = run_main("schedule", "list", "--scoot-home", str(root), "--json")
    assert code == 0
    assert json.loads(out)["schedule"]["config_file"] == "(none: defaults)"


def test_option_wins_over_environment_and_environment_over_default(
    run_scoot, tmp_path: Path, user_home: Path
) -> None:
    from_env = tmp_path / "from-env"
    from_option = tmp_path / "from-option"
    code, out, _ = run_scoot("config", env={"SCOOT_HOME": str(from_env)})
    assert code == 0 and f"runtime dir: {from_env}" in out
    code, out, _ = run_scoot(
        "--scoot-home", str(from_option), "config", env={"SCOOT_HOME": str(from_env)}
    )
    assert code == 0 and f"runtime dir: {from_option}" in out
    code, out, _ = run_scoot("config")
    assert code == 0 and f"runtime dir: {user_home / '.scoot'}" in out
    assert_tree(user_home / ".scoot")


def test_empty_scoot_home_means_unset(tmp_path: Path) -> None:
    assert resolve_home(None, {"SCOOT_HOME": ""}).root == Path.home() / ".scoot"
    assert resolve_home(None, {"SCOOT_HOME": str(tmp_path)}).root == tmp_path
    assert resolve_home(str(tmp_path / "x"), {"SCOOT_HOME": "/elsewhere"}).root == tmp_path / "x"


def test_home_that_is_a_file_is_one_clear_error(run_main, tmp_path: Path) -> None:
    blocker = write(tmp_path / "plain-file", "x")
    for args in (["config"], ["schedule", "list"], ["schedule", "history"]):
        code, out, err = run_main("--scoot-home", str(blocker), *args)
        line = one_error_line(err)
        assert code == 2, (args, err)  # the home is user input: a usage error
        assert f"{blocker} is a file" in line and "--scoot-home" in line
        assert blocker.read_text() == "x"


def test_home_under_a_file_is_one_clear_error(run_main, tmp_path: Path) -> None:
    blocker = write(tmp_path / "plain-file", "x")
    for args in (["config"], ["schedule", "list"]):
        code, _, err = run_main("--scoot-home", str(blocker / "sub" / "home"), *args)
        line = one_error_line(err)
        assert code == 2
        assert f"{blocker} is a file" in line


def test_home_under_an_unwritable_parent(run_main, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # Permission bits do not stop root: the real CLI runs as the unprivileged user.
        user = unprivileged.require_user()
        base = unprivileged.owned_dir(user)
        try:
            parent = base / "locked"
            parent.mkdir(mode=0o500)
            os.chown(parent, user.uid, user.gid)
            done = unprivileged.run_as(
                user,
                scoot_cmd("--scoot-home", str(parent / "home"), "config"),
                env=unprivileged.env_for(user, parent / "home"),
                cwd=base,
            )
        finally:
            shutil.rmtree(base, ignore_errors=True)
        code, err = done.returncode, done.stderr
    else:
        parent = tmp_path / "locked"
        parent.mkdir(mode=0o500)
        try:
            code, _, err = run_main("--scoot-home", str(parent / "home"), "config")
        finally:
            parent.chmod(0o700)
    assert code == 2
    assert "permission denied" in one_error_line(err)


def test_group_readable_home_is_warned_with_the_fix(run_main, tmp_path: Path) -> None:
    root = tmp_path / "open"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    code, _, err = run_main("--scoot-home", str(root), "config")
    assert code == 0
    assert f"chmod 700 {root}" in err


# --- loading: files, defaults, unknown keys ----------------------------------------------


def test_every_key_has_its_default(tmp_path: Path) -> None:
    loaded = load_config(Home(tmp_path), {})
    assert loaded.source is None and loaded.warnings == ()
    config = loaded.config
    assert config == Config()
    assert config.backend.base_url == "http://127.0.0.1:11434/v1"
    assert config.backend.model == "qwen2.5"
    assert config.backend.timeout_ms == 120000
    assert config.backend.api_key_env == "OPENAI_API_KEY"
    assert config.backend.api_key_file == ""
    assert config.backend.api == "chat"
    assert config.agent.max_turns == 32
    assert config.tools.policy == "guarded"
    assert config.tools.timeout_ms == 30000
    assert config.tools.confine_writes is True
    assert config.tools.block_internal_http is True
    assert config.audit.level == "info"
    assert config.audit.to_file is True
    assert config.schedule.enabled is False
    assert config.schedule.poll_ms == 1000
    assert config.schedule.jobs == ()


def test_missing_keys_take_defaults_next_to_given_ones(tmp_path: Path) -> None:
    write(tmp_path / "config.toml", '[backend]\nmodel = "llama3"\n[schedule]\nenabled = true\n')
    config = load_config(Home(tmp_path), {}).config
    assert config.backend.model == "llama3"
    assert config.backend.base_url == "http://127.0.0.1:11434/v1"
    assert config.schedule.enabled is True
    assert config.schedule.poll_ms == 1000


def test_toml_wins_over_json(tmp_path: Path) -> None:
    write(tmp_path / "config.toml", '[backend]\nmodel = "from-toml"\n')
    write(tmp_path / "config.json", json.dumps({"backend": {"model": "from-json"}}))
    loaded = load_config(Home(tmp_path), {})
    assert loaded.source == tmp_path / "config.toml"
    assert loaded.config.backend.model == "from-toml"


def test_json_is_read_when_there_is_no_toml(tmp_path: Path) -> None:
    write(
        tmp_path / "config.json",
        json.dumps(
            {
                "backend": {"model": "from-json", "extra_body": {"temperature": 0}},
                "schedule": {"jobs": [{"id": "a", "goal": "g", "every_sec": 5}]},
            }
        ),
    )
    loaded = load_config(Home(tmp_path), {})
    assert loaded.source == tmp_path / "config.json"
    assert loaded.config.backend.model == "from-json"
    assert loaded.config.backend.extra_body == {"temperature": 0}
    assert loaded.config.schedule.jobs == ({"id": "a", "goal": "g", "every_sec": 5},)


def test_unknown_keys_and_sections_warn_once_each_and_are_ignored(run_main, home: Home) -> None:
    write(
        home.config_toml,
        '[backend]\nmodel = "m"\nmodl = "typo"\n[agent]\nmax_turn = 3\n[colour]\nx = 1\n'
        "[skills]\nenabled = true\n",
    )
    code, out, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("scoot: warning:")]
    assert len(warnings) == 3, err
    assert sum("[backend] modl" in w for w in warnings) == 1
    assert sum("[agent] max_turn" in w for w in warnings) == 1
    assert sum("[colour]" in w for w in warnings) == 1
    # [skills] belongs to older Scoot files: read silently.
    assert "skills" not in err
    assert '  model = "m"' in out
    assert "modl" not in out


def test_unknown_key_with_a_newline_stays_one_warning_line(run_main, home: Home) -> None:
    write(home.config_toml, '[backend]\n"bad\\nkey" = 1\n["sec\\ntion"]\n')
    code, _, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert all(line.startswith("scoot: warning:") for line in lines)
    assert "'bad\\nkey'" in lines[0]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[backend]\ntimeout_ms = "fast"\n', "[backend] timeout_ms"),
        ("[backend]\nmodel = 5\n", "[backend] model"),
        ("[backend]\nextra_body = 3\n", "[backend] extra_body"),
        ("[backend]\nextra_body = { when = 1979-05-27 }\n", "extra_body.when is a date"),
        ("[backend]\nextra_body = { n = [18446744073709551616] }\n", "extra_body.n[0] = "),
        ("[backend]\nextra_body = { t = nan }\n", "extra_body.t = nan is not a finite"),
        ('[backend]\napi = "soap"\n', "[backend] api"),
        ("[agent]\nmax_turns = 0\n", "[agent] max_turns"),
        ("[agent]\nmax_turns = 2.5\n", "[agent] max_turns"),
        ("[agent]\nmax_turns = true\n", "[agent] max_turns"),
        ('[tools]\nconfine_writes = "yes"\n', "[tools] confine_writes"),
        ('[tools]\npolicy = "loose"\n', "[tools] policy"),
        ("[schedule]\nenabled = 1\n", "[schedule] enabled"),
        ("[schedule]\npoll_ms = 2147483648\n", "[schedule] poll_ms"),
        ('[schedule]\njobs = "all"\n', "[schedule] jobs"),
        ('agent = "x"\n', "[agent]"),
    ],
)
def test_wrong_type_is_exit_2_with_one_line_naming_the_key(
    run_main, home: Home, body: str, key: str
) -> None:
    write(home.config_toml, body)
    code, out, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 2
    line = one_error_line(err)
    assert key in line and str(home.config_toml) in line
    assert out == ""


def test_wrong_type_in_json_names_the_key(run_main, home: Home) -> None:
    write(home.config_json, json.dumps({"schedule": {"poll_ms": "soon"}}))
    code, _, err = run_main("--scoot-home", str(home.root), "schedule", "list")
    assert code == 2
    assert "[schedule] poll_ms" in one_error_line(err)


def test_toml_syntax_error_gives_file_line_col(run_scoot, home: Home) -> None:
    write(home.config_toml, '[backend]\nmodel = "ok"\nbase_url = \n')
    code, out, err = run_scoot("--scoot-home", str(home.root), "schedule", "list")
    assert code == 2
    assert out == ""
    assert one_error_line(err).startswith(f"scoot: {home.config_toml}:3:")
    assert "TOML" in err


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("[backend]\nmodel = ", "2:9"),  # a value missing at the very end, no final newline
        ('[backend]\nmodel = """open\nstill open\n', "3:11"),  # a string never closed
    ],
)
def test_toml_error_at_end_of_file_gives_its_line_col(
    run_main, home: Home, text: str, position: str
) -> None:
    write(home.config_toml, text)
    code, out, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 2
    assert out == ""
    assert one_error_line(err).startswith(f"scoot: {home.config_toml}:{position}: ")


def test_json_syntax_error_gives_file_line_col(run_scoot, home: Home) -> None:
    write(home.config_json, '{"backend": {\n  "model": "m",\n}}\n')
    code, out, err = run_scoot("--scoot-home", str(home.root), "config")
    assert code == 2
    assert out == ""
    assert one_error_line(err).startswith(f"scoot: {home.config_json}:3:1:")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.json", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("config.toml", "a = " + "[" * 50_000 + "]" * 50_000),
        ("config.toml", "[schedule]\npoll_ms = " + "9" * 5000),
        ("config.json", '{"schedule": {"poll_ms": ' + "9" * 5000 + "}}"),
        ("config.json", "[1, 2]"),
        ("config.toml", "[backend]\nmodel = 'caf\udce9'"),
    ],
    ids=["json-deep", "toml-deep", "toml-long-int", "json-long-int", "json-array", "not-utf8"],
)
def test_unparseable_files_are_config_errors(run_main, home: Home, name: str, text: str) -> None:
    (home.root / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    code, _, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 2
    assert str(home.root / name) in one_error_line(err)


def test_nothing_is_written_when_the_config_does_not_parse(run_main, tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    write(root / "config.toml", "[[[")
    code, _, _ = run_main("--scoot-home", str(root), "schedule", "list")
    assert code == 2
    assert sorted(p.name for p in root.iterdir()) == ["config.toml"]


# --- SCOOT_* overrides -------------------------------------------------------------------


def test_every_non_secret_field_has_an_override() -> None:
    names = {env_var_name(s, k) for s, k in overridable_fields()}
    assert "SCOOT_BACKEND_MODEL" in names
    assert "SCOOT_SCHEDULE_POLL_MS" in names
    assert "SCOOT_SCHEDULE_JOBS" not in names
    assert len(names) == len(effective_values(Config()))


def test_overrides_for_int_bool_str_and_table() -> None:
    config, warnings, applied = build_config(
        {"backend": {"model": "from-file"}},
        "config.toml",
        {
            "SCOOT_BACKEND_MODEL": "from-env",
            "SCOOT_SCHEDULE_POLL_MS": " 250 ",
            "SCOOT_SCHEDULE_ENABLED": "yes",
            "SCOOT_TOOLS_CONFINE_WRITES": "0",
            "SCOOT_BACKEND_EXTRA_BODY": '{"top_p": 0.5}',
        },
    )
    assert warnings == []
    assert config.backend.model == "from-env"
    assert config.schedule.poll_ms == 250
    assert config.schedule.enabled is True
    assert config.tools.confine_writes is False
    assert config.backend.extra_body == {"top_p": 0.5}
    assert set(applied) == {
        "SCOOT_BACKEND_MODEL",
        "SCOOT_SCHEDULE_POLL_MS",
        "SCOOT_SCHEDULE_ENABLED",
        "SCOOT_TOOLS_CONFINE_WRITES",
        "SCOOT_BACKEND_EXTRA_BODY",
    }


def test_empty_override_means_unset() -> None:
    config, warnings, applied = build_config(
        {"backend": {"model": "from-file"}},
        "config.toml",
        {"SCOOT_BACKEND_MODEL": "", "SCOOT_SCHEDULE_ENABLED": ""},
    )
    assert config.backend.model == "from-file"
    assert config.schedule.enabled is False
    assert warnings == [] and applied == []


@pytest.mark.parametrize(
    ("var", "text"),
    [
        ("SCOOT_SCHEDULE_POLL_MS", "fast"),
        ("SCOOT_SCHEDULE_POLL_MS", "1.5"),
        ("SCOOT_SCHEDULE_POLL_MS", "5"),  # below the minimum of 10
        ("SCOOT_SCHEDULE_POLL_MS", "9" * 5000),
        ("SCOOT_SCHEDULE_ENABLED", "maybe"),
        ("SCOOT_BACKEND_EXTRA_BODY", "[1, 2]"),
        ("SCOOT_BACKEND_EXTRA_BODY", "{not json"),
        ("SCOOT_BACKEND_API", "soap"),
        ("SCOOT_AGENT_MAX_TURNS", "0"),
    ],
)
def test_wrong_override_is_warned_and_ignored(var: str, text: str) -> None:
    config, warnings, applied = build_config({}, "defaults", {var: text})
    assert config == Config()
    assert applied == []
    assert len(warnings) == 1 and var in warnings[0] and "\n" not in warnings[0]


def test_config_command_marks_overrides_and_warns_on_bad_ones(run_main, home: Home) -> None:
    code, out, err = run_main(
        "--scoot-home",
        str(home.root),
        "config",
        env={"SCOOT_AGENT_MAX_TURNS": "7", "SCOOT_SCHEDULE_POLL_MS": "soon"},
    )
    assert code == 0
    assert "  max_turns = 7  # from SCOOT_AGENT_MAX_TURNS" in out
    assert "  poll_ms = 1000\n" in out
    assert "SCOOT_SCHEDULE_POLL_MS='soon' ignored" in err


def test_config_command_shows_every_value(run_main, home: Home) -> None:
    code, out, _ = run_main("--scoot-home", str(home.root), "config")
    assert code == 0
    lines = out.splitlines()
    for section, key, _value in effective_values(Config()):
        header = lines.index(f"[{section}]")
        body = []
        for line in lines[header + 1 :]:
            if not line.startswith("  "):
                break
            body.append(line)
        assert any(line.startswith(f"  {key} = ") for line in body), (section, key)
    assert "config file: (none: defaults)" in out


def test_config_values_print_on_one_line_each(run_main, home: Home) -> None:
    write(home.config_toml, '[backend]\nmodel = "two\\nlines \\"q\\""\n')
    code, out, _ = run_main("--scoot-home", str(home.root), "config")
    assert code == 0
    assert '  model = "two\\nlines \\"q\\""' in out.splitlines()


# --- the token ---------------------------------------------------------------------------


def write_token(path: Path, value: str, mode: int = 0o600) -> None:
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(mode)


def test_token_from_env_wins_over_file_and_command(home: Home) -> None:
    write_token(home.token_file, "from-file")
    write(home.config_toml, '[backend]\napi_key_cmd = "echo from-cmd"\n')
    backend = load_config(home, {}).config.backend
    token = resolve_token(home, backend, {"OPENAI_API_KEY": "from-env"})
    assert (token.value, token.source) == ("from-env", "env:OPENAI_API_KEY")
    token = resolve_token(home, backend, {})
    assert (token.value, token.source) == ("from-file", f"file:{home.token_file}")
    home.token_file.unlink()
    token = resolve_token(home, backend, {})
    assert (token.value, token.source) == ("from-cmd", "command:[backend] api_key_cmd")
    assert "from-cmd" not in repr(token)


def test_api_key_env_names_the_variable(home: Home) -> None:
    write(home.config_toml, '[backend]\napi_key_env = "MY_KEY"\n')
    backend = load_config(home, {}).config.backend
    token = resolve_token(home, backend, {"MY_KEY": "k", "OPENAI_API_KEY": "other"})
    assert (token.value, token.source) == ("k", "env:MY_KEY")


def test_api_key_file_points_elsewhere(home: Home, tmp_path: Path) -> None:
    elsewhere = tmp_path / "secret-token"
    write_token(elsewhere, "from-elsewhere")
    write(home.config_toml, f"[backend]\napi_key_file = {json.dumps(str(elsewhere))}\n")
    backend = load_config(home, {}).config.backend
    token = resolve_token(home, backend, {})
    assert token.value == "from-elsewhere"


def test_world_readable_token_file_is_refused_with_chmod_600(run_main, home: Home) -> None:
    write_token(home.token_file, TOKEN, mode=0o644)
    backend = load_config(home, {}).config.backend
    token = resolve_token(home, backend, {})
    assert token.value is None and token.source == "none"
    assert len(token.warnings) == 1 and f"chmod 600 {home.token_file}" in token.warnings[0]
    code, out, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 0
    assert "token: none" in out
    assert f"chmod 600 {home.token_file}" in err
    assert TOKEN not in out + err


def test_group_readable_token_falls_through_to_the_command(home: Home) -> None:
    write_token(home.token_file, "from-file", mode=0o640)
    write(home.config_toml, '[backend]\napi_key_cmd = "echo from-cmd"\n')
    token = resolve_token(home, load_config(home, {}).config.backend, {})
    assert token.value == "from-cmd"
    assert any("chmod 600" in w for w in token.warnings)


def test_token_command_timeout_is_bounded_and_leaves_nothing_running(home: Home) -> None:
    marker = f"{os.getpid()}{time.monotonic_ns() % 1000:03d}"
    write(
        home.config_toml,
        f'[backend]\napi_key_cmd = "sleep 10.{marker}; echo late"\napi_key_cmd_timeout_ms = 200\n',
    )
    backend = load_config(home, {}).config.backend
    started = time.monotonic()
    token = resolve_token(home, backend, {})
    assert time.monotonic() - started < 8  # the 200 ms limit, not the command's 10 s
    assert token.value is None
    assert any("within 200 ms" in w for w in token.warnings)
    leftovers = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if f"10.{marker}".encode() in cmdline:
                leftovers.append(proc.name)
    assert leftovers == []


def test_token_command_failure_is_a_warning(home: Home) -> None:
    write(home.config_toml, '[backend]\napi_key_cmd = "exit 3"\n')
    token = resolve_token(home, load_config(home, {}).config.backend, {})
    assert token.value is None
    assert any("status 3" in w for w in token.warnings)


def test_token_never_appears_in_output(run_scoot, home: Home) -> None:
    write(
        home.config_toml,
        "[schedule]\nenabled = true\n[[schedule.jobs]]\n"
        'id = "a"\ngoal = "look around"\nevery_sec = 60\n',
    )
    env = {"OPENAI_API_KEY": TOKEN}
    for args in (
        ["config"],
        ["config", "--json"],
        ["doctor", "--offline"],  # tests/test_doctor_backend.py sends it to a real server
        ["doctor", "--offline", "--json"],
        ["schedule", "list"],
        ["schedule", "list", "--json"],
    ):
        code, out, err = run_scoot("--scoot-home", str(home.root), *args, env=env)
        assert code == 0, (args, err)
        assert TOKEN not in out and TOKEN not in err, args
        if args[0] == "config":
            assert "env:OPENAI_API_KEY" in out
    for path in home.root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_config_error_reaches_the_library_as_config_error(tmp_path: Path) -> None:
    write(tmp_path / "config.toml", f"[schedule]\nmax_concurrent = {MAX_WHOLE + 1}\n")
    with pytest.raises(ConfigError, match=r"\[schedule\] max_concurrent must be <="):
        load_config(Home(tmp_path), {})


def test_old_edge_key_still_applies_with_one_warning_naming_the_new_key(
    run_main, home: Home
) -> None:
    write(home.config_toml, '[edge]\nmax_job_policy = "guarded"\n')
    code, out, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("scoot: warning:")]
    assert len(warnings) == 1, err
    assert "[edge] max_job_policy is deprecated" in warnings[0]
    assert "[edge] unattended_exec_max_policy" in warnings[0]
    assert 'unattended_exec_max_policy = "guarded"' in out
    assert "max_job_policy" not in out


def test_new_edge_key_is_read_without_warning_and_wins_over_the_old(home: Home) -> None:
    config, warnings, _ = build_config(
        {"edge": {"unattended_exec_max_policy": "unrestricted"}}, "f", {}
    )
    assert config.edge.unattended_exec_max_policy == "unrestricted" and warnings == []
    config, warnings, _ = build_config(
        {"edge": {"max_job_policy": "guarded", "unattended_exec_max_policy": "readonly"}}, "f", {}
    )
    assert config.edge.unattended_exec_max_policy == "readonly"
    assert len(warnings) == 1 and "value is ignored" in warnings[0]


def test_old_edge_key_is_checked_like_the_new_one() -> None:
    with pytest.raises(ConfigError, match="unattended_exec_max_policy must be one of"):
        build_config({"edge": {"max_job_policy": "anything"}}, "f", {})


def test_old_edge_variable_still_applies_with_one_warning() -> None:
    config, warnings, applied = build_config(
        {}, "defaults", {"SCOOT_EDGE_MAX_JOB_POLICY": "guarded"}
    )
    assert config.edge.unattended_exec_max_policy == "guarded"
    assert applied == ["SCOOT_EDGE_MAX_JOB_POLICY"]
    assert warnings == [
        "SCOOT_EDGE_MAX_JOB_POLICY is deprecated; rename it to SCOOT_EDGE_UNATTENDED_EXEC_MAX_POLICY"
    ]
    config, warnings, applied = build_config(
        {},
        "defaults",
        {
            "SCOOT_EDGE_MAX_JOB_POLICY": "guarded",
            "SCOOT_EDGE_UNATTENDED_EXEC_MAX_POLICY": "readonly",
        },
    )
    assert config.edge.unattended_exec_max_policy == "readonly" and warnings == []
