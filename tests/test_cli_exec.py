"""`scoot -e` and the inspection commands, through the real CLI and the scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import read_jsonl, run_scoot, write_config

TOKEN = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def steps(*items: dict) -> dict:
    return {"default": list(items)}


def test_exec_prints_only_the_answer_and_records_everything(home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("the answer is 42\n")
    script = steps(
        {"thought": "read it", "action": "file_read", "action_input": "notes.txt"},
        {"final": "42"},
    )
    with ScriptedModel({**script, "require_token": TOKEN}) as model:
        write_config(home, base_url=model.base_url, schedule={"enabled": False})
        done = run_scoot(home, "-e", "what is the answer?", cwd=work, OPENAI_API_KEY=TOKEN)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"
    sessions = list((home / "state" / "sessions").glob("cli-*.jsonl"))
    assert len(sessions) == 1
    roles = [row["role"] for row in read_jsonl(sessions[0])]
    assert roles[:2] == ["system", "user"] and "observation" in roles
    kinds = [row["kind"] for row in read_jsonl(home / "logs" / "audit.jsonl")]
    for kind in (
        "job_start",
        "sandbox",
        "run",
        "thought",
        "tool_call",
        "observation",
        "final",
        "job_end",
    ):
        assert kind in kinds
    for path in home.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_exec_trace_goes_to_stderr(home: Path) -> None:
    script = steps(
        {"thought": "look around", "action": "glob", "action_input": "*"}, {"final": "done"}
    )
    with ScriptedModel(script) as model:
        write_config(home, base_url=model.base_url)
        done = run_scoot(home, "-e", "look", "--trace")
    assert done.returncode == 0 and done.stdout == "done\n"
    assert "thinking: look around" in done.stderr and "running: glob" in done.stderr


def test_exec_failure_exits_nonzero_with_one_line(home: Path) -> None:
    write_config(home, base_url="http://127.0.0.1:9/v1")
    done = run_scoot(home, "-e", "anything", "--retries", "0")
    assert done.returncode == 1
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unreachable" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "x", "--session-id", "../evil"], "invalid --session-id"),
        (["-e", "x", "--policy", "godmode"], "unknown --policy"),
        (["-e", "   "], "goal is empty"),
        (["-e", "x", "--retries", "-1"], "--retries"),
    ],
)
def test_exec_usage_errors(home: Path, args: list[str], message: str) -> None:
    write_config(home)
    done = run_scoot(home, *args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unattended_clamps_guarded_to_readonly(home: Path) -> None:
    script = steps(
        {"thought": "x", "action": "bash", "action_input": "echo hi"}, {"final": "gave up"}
    )
    with ScriptedModel(script) as model:
        write_config(home, base_url=model.base_url, sections={"tools": {"policy": "guarded"}})
        done = run_scoot(home, "-e", "say hi", "--unattended", "--session-id", "clamped")
    assert done.returncode == 0
    assert "coerced to readonly" in done.stderr
    events = read_jsonl(home / "logs" / "audit.jsonl")
    denies = [e for e in events if e["kind"] == "policy_deny"]
    assert denies and "readonly" in denies[0]["msg"]
    assert all(e["session_id"] == "clamped" for e in events if e.get("session_id"))


def test_readonly_job_is_denied_bash_write_and_http_by_the_gate(home: Path) -> None:
    script = steps(
        {"thought": "a", "action": "bash", "action_input": "touch x"},
        {"thought": "b", "action": "file_write", "action_input": '{"path": "x", "content": "y"}'},
        {"thought": "c", "action": "http_request", "action_input": "http://example.com/"},
        {"final": "nothing done"},
    )
    with ScriptedModel(script) as model:
        write_config(
            home, base_url=model.base_url, jobs=[{"id": "ro", "goal": "g", "every_sec": 60}]
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0
    denies = [e for e in read_jsonl(home / "logs" / "audit.jsonl") if e["kind"] == "policy_deny"]
    assert len(denies) == 3
    assert not (home / "x").exists()


def test_inspection_commands(home: Path) -> None:
    with ScriptedModel(steps({"final": "inspected"})) as model:
        write_config(home, base_url=model.base_url)
        assert run_scoot(home, "-e", "first", "--session-id", "one").returncode == 0
        assert run_scoot(home, "-e", "second", "--session-id", "two").returncode == 0
    listed = run_scoot(home, "sessions", "list")
    assert "one" in listed.stdout and "two" in listed.stdout
    shown = run_scoot(home, "session", "show", "one")
    assert "user: first" in shown.stdout and "inspected" in shown.stdout
    audit = run_scoot(home, "audit", "show", "two", "--json")
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    assert rows and {row["session_id"] for row in rows} == {"two"}
    missing = run_scoot(home, "session", "show", "nope")
    assert missing.returncode == 2 and "no session 'nope'" in missing.stderr
    # One rule for both views: an unknown session is the same one line and exit 2.
    unknown = run_scoot(home, "audit", "show", "nope")
    assert (unknown.returncode, unknown.stderr) == (2, missing.stderr)
    assert unknown.stdout == ""
    bad = run_scoot(home, "audit", "show", "../x")
    assert bad.returncode == 2


@pytest.mark.parametrize(
    ("args", "code", "verdict"),
    [
        (["bash", "ls -la", "--mode", "readonly"], 1, "deny"),
        (["bash", "ls -la", "--mode", "guarded"], 0, "allow"),
        (["bash", "rm -rf /", "--mode", "guarded"], 1, "deny"),
        (["file_read", "notes.txt", "--mode", "readonly"], 0, "allow"),
        (["file_read", "/etc/shadow", "--mode", "readonly"], 1, "deny"),
    ],
)
def test_policy_check_explains_without_running(
    home: Path, tmp_path: Path, args: list[str], code: int, verdict: str
) -> None:
    write_config(home)
    # An ordinary working directory: inside the runtime directory everything is off limits.
    work = tmp_path / "work"
    work.mkdir()
    done = run_scoot(home, "policy", "check", *args, cwd=work)
    assert done.returncode == code
    assert done.stdout.startswith(verdict + ":")
