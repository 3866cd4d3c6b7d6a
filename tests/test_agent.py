"""The ReACT loop with real tools in a temporary directory and the scripted model on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from scoot.shared.actions import ACTIONS
from scoot.shared.policy import allowed_actions
from scoot.shared.run_spec import RunSpec
from scoot.testing.model_server import ScriptedModel
from tests.run_specs import backend_wire, run_spec
from worker.agent import MAX_REPLY_CHARS, StepFormatError, parse_step, run_agent
from worker.backend import Backend
from worker.prompt import system_prompt

TOKEN = "sk-agent-test-token-42"
FINAL = {"final": "finished"}


def make_spec(
    base_url: str,
    cwd: Path,
    *,
    token: str | None = None,
    backend_name: str = "default",
    api: str = "chat",
    agent: dict[str, int] | None = None,
    **overrides: Any,
) -> RunSpec:
    backend = backend_wire(base_url, token=token, name=backend_name, api=api)
    if agent is not None:
        overrides["max_turns"] = agent["max_turns"]
    return run_spec(str(cwd), str(cwd), backend=backend, **overrides)


def run_script(
    script: dict[str, Any], cwd: Path, **overrides: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """Run the agent against `script`; returns the result, the frames and the requests."""
    frames: list[dict[str, Any]] = []
    with ScriptedModel(script) as model:
        result = run_agent(make_spec(model.base_url, cwd, **overrides), frames.append)
        requests = model.requests
    return result, frames, requests


def audits(frames: list[dict[str, Any]], kind: str | None = None) -> list[str]:
    return [
        f["msg"] for f in frames if f["type"] == "audit" and (kind is None or f["kind"] == kind)
    ]


def audit_kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [f["kind"] for f in frames if f["type"] == "audit"]


def last_message(request: Any) -> str:
    return request.body["messages"][-1]["content"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("disk usage is 42%\n")
    return tmp_path


def test_reads_a_file_then_answers(workdir: Path) -> None:
    script = {
        "default": [
            {"thought": "read the notes", "action": "file_read", "action_input": "notes.txt"},
            {"final": "disk at 42%", "thought": "I know now"},
        ]
    }
    result, frames, requests = run_script(script, workdir)
    assert result == {"status": "ok", "answer": "disk at 42%", "error": None}
    assert audit_kinds(frames) == [
        "run",
        "thought",
        "tool_call",
        "observation",
        "thought",
        "final",
    ]
    assert audits(frames, "run") == ["mode=readonly max_turns=8 goal=inspect the notes"]
    assert audits(frames, "tool_call") == ["file_read notes.txt"]
    assert "disk usage is 42%" in audits(frames, "observation")[0]
    assert audits(frames, "final") == ["disk at 42%"]
    assert len(requests) == 2
    assert last_message(requests[1]) == "Observation: disk usage is 42%\n"
    roles = [f["role"] for f in frames if f["type"] == "session"]
    assert roles == ["system", "user", "assistant", "observation", "assistant"]


def test_responses_api_runs_the_same_loop(workdir: Path) -> None:
    script = {"default": [{"action": "glob", "action_input": "*.txt"}, FINAL]}
    with ScriptedModel(script) as model:
        spec = make_spec(model.base_url, workdir, api="responses")
        result = run_agent(spec, [].append)
        requests = model.requests
    assert result["status"] == "ok"
    assert requests[1].path == "/v1/responses"
    assert "notes.txt" in requests[1].body["input"][-1]["content"]


def test_system_prompt_lists_only_the_actions_of_the_mode(workdir: Path) -> None:
    _, _, readonly_requests = run_script({"default": [FINAL]}, workdir)
    _, _, guarded_requests = run_script({"default": [FINAL]}, workdir, mode="guarded")
    readonly_prompt = readonly_requests[0].body["messages"][0]["content"]
    guarded_prompt = guarded_requests[0].body["messages"][0]["content"]
    assert "- file_read:" in readonly_prompt and "- bash:" not in readonly_prompt
    assert "- file_write:" not in readonly_prompt and "- http_request:" not in readonly_prompt
    assert "- bash:" in guarded_prompt and "- file_write:" in guarded_prompt
    assert str(workdir) in readonly_prompt
    assert readonly_requests[0].body["messages"][1] == {
        "role": "user",
        "content": "inspect the notes",
    }


def test_system_prompt_always_explains_final() -> None:
    without_final = [ACTIONS["file_read"]]
    text = system_prompt("readonly", without_final, "/srv")
    assert "- final:" in text
    assert '{"thought": "<your reasoning>", "action": "<action name>"' in text
    full = system_prompt("readonly", [ACTIONS[n] for n in allowed_actions("readonly")], "/srv")
    assert full.count("- final:") == 1


STEP_TEXT = '{"thought": "t", "action": "final", "action_input": "done"}'

MALFORMED_REPLIES = {
    "prose": ("Sure, let me look.", "not a JSON object"),
    "array": ('[{"thought": "t"}]', "not a JSON object"),
    "missing keys": ('{"thought": "t", "action": "final"}', "missing field(s): action_input"),
    "extra key": (
        '{"thought": "t", "action": "final", "action_input": "x", "mood": "ok"}',
        "unexpected field(s): 'mood'",
    ),
    "non-string field": (
        '{"thought": "t", "action": "file_read", "action_input": {"path": "a"}}',
        "field 'action_input' must be a string, got an object",
    ),
    "prose before": (f"Here you go: {STEP_TEXT}", "not a JSON object"),
    "prose after": (f"{STEP_TEXT}\nHope this helps!", "text after the JSON object"),
    "two objects": (f"{STEP_TEXT}\n{STEP_TEXT}", "text after the JSON object"),
    "two fences": (
        f"```json\n{STEP_TEXT}\n```\n```json\n{STEP_TEXT}\n```",
        "text after the JSON object",
    ),
    "fence and prose": (f"Answer:\n```json\n{STEP_TEXT}\n```", "not a JSON object"),
    "duplicate key": (
        '{"thought": "t", "action": "final", "action": "bash", "action_input": "x"}',
        "field 'action' appears twice",
    ),
    "invalid json": ('{"thought": "t", "action": final}', "not valid JSON"),
    "empty": ("", "not a JSON object"),
    "lone surrogate": ('{"thought": "\ud800", "action": "final", "action_input": "x"}', "UTF-8"),
}


@pytest.mark.parametrize("shape", sorted(MALFORMED_REPLIES))
def test_malformed_reply_is_rejected_counted_and_fed_back(workdir: Path, shape: str) -> None:
    reply, complaint = MALFORMED_REPLIES[shape]
    result, frames, requests = run_script({"default": [{"raw": reply}, FINAL]}, workdir)
    assert result == {"status": "ok", "answer": "finished", "error": None}
    errors = audits(frames, "system_error")
    assert len(errors) == 1
    assert errors[0].startswith("rejected model reply (turn 1): ")
    assert complaint in errors[0]
    assert len(requests) == 2
    feedback = last_message(requests[1])
    assert feedback.startswith("Observation: error: your reply was rejected: ")
    assert complaint in feedback
    assert '{"thought": "<your reasoning>", "action": "<action name>"' in feedback
    # Every emitted frame stays encodable.
    json.dumps(frames).encode("utf-8")


def test_invalid_utf8_bytes_in_the_reply_are_rejected(workdir: Path) -> None:
    body = '{"choices": [{"message": {"role": "assistant", "content": "{\\"a\\": \\"\udcff\\"}"}}]}'
    result, frames, requests = run_script({"default": [{"body": body}, FINAL]}, workdir)
    assert result["status"] == "ok"
    assert "not valid UTF-8" in audits(frames, "system_error")[0]
    assert len(requests) == 2
    json.dumps(frames).encode("utf-8")


def test_ten_megabyte_reply_is_rejected_and_not_resent(workdir: Path) -> None:
    huge = '{"thought": "' + "x" * (10 * 1024 * 1024) + '", "action": "final", "action_input": "a"}'
    result, frames, requests = run_script({"default": [{"raw": huge}, FINAL]}, workdir)
    assert result["status"] == "ok"
    assert f"at most {MAX_REPLY_CHARS}" in audits(frames, "system_error")[0]
    assert len(json.dumps(requests[1].body)) < 20_000
    assert all(len(json.dumps(frame)) < 1024 * 1024 for frame in frames)


@pytest.mark.parametrize(
    "reply",
    [
        STEP_TEXT,
        f"  \n{STEP_TEXT}\n\n",
        f"```json\n{STEP_TEXT}\n```",
        f"```\n{STEP_TEXT}\n```",
        f"\n```json\n  {STEP_TEXT}\n```  ",
    ],
)
def test_accepted_step_shapes(reply: str) -> None:
    step = parse_step(reply)
    assert (step.thought, step.action, step.action_input) == ("t", "final", "done")


def test_parse_step_rejects_a_fence_with_prose_inside() -> None:
    with pytest.raises(StepFormatError, match="text after the JSON object"):
        parse_step(f"```json\n{STEP_TEXT}\nthanks\n```")


def test_max_turns_exhaustion_is_an_error(workdir: Path) -> None:
    script = {"default": [{"action": "glob", "action_input": "*"} for _ in range(10)]}
    result, frames, requests = run_script(script, workdir, agent={"max_turns": 3})
    assert result == {
        "status": "error",
        "answer": None,
        "error": "stopped after 3 turns without a final answer (agent.max_turns)",
    }
    assert len(requests) == 3
    assert len(audits(frames, "tool_call")) == 3


def test_malformed_replies_use_up_the_turns(workdir: Path) -> None:
    script = {"default": [{"raw": "I think the disk is fine."} for _ in range(5)]}
    result, frames, requests = run_script(script, workdir, agent={"max_turns": 3})
    assert result["status"] == "error"
    assert result["error"] == "stopped after 3 turns without a final answer (agent.max_turns)"
    assert len(requests) == 3
    assert len(audits(frames, "system_error")) == 3


@pytest.mark.parametrize(
    ("action", "action_input"),
    [
        ("bash", "rm -rf ./data"),
        ("file_write", '{"path": "out.txt", "content": "x"}'),
        ("http_request", "https://example.com/"),
    ],
)
def test_readonly_denies_and_feeds_the_reason_back(
    workdir: Path, action: str, action_input: str
) -> None:
    script = {"default": [{"action": action, "action_input": action_input}, FINAL]}
    result, frames, requests = run_script(script, workdir)
    assert result["status"] == "ok"
    [denial] = audits(frames, "policy_deny")
    assert denial.startswith(f"{action}: ")
    reason = denial.split(": ", 1)[1]
    assert reason
    assert last_message(requests[1]) == f"Observation: denied: {reason}"
    assert audits(frames, "observation") == []
    assert not (workdir / "out.txt").exists()


def test_only_denials_until_max_turns_ends_denied(workdir: Path) -> None:
    script = {"default": [{"action": "bash", "action_input": "ls"} for _ in range(5)]}
    result, frames, _ = run_script(script, workdir, agent={"max_turns": 2})
    assert result["status"] == "denied"
    assert result["error"].startswith("stopped after 2 turns: every action was denied by the")
    assert len(audits(frames, "policy_deny")) == 2


def test_a_mix_of_denied_and_allowed_actions_ends_error(workdir: Path) -> None:
    script = {
        "default": [
            {"action": "bash", "action_input": "ls"},
            {"action": "glob", "action_input": "*"},
        ]
    }
    result, _, _ = run_script(script, workdir, agent={"max_turns": 2})
    assert result["status"] == "error"


def test_tool_error_becomes_an_observation(workdir: Path) -> None:
    script = {"default": [{"action": "file_read", "action_input": "missing.txt"}, FINAL]}
    result, frames, requests = run_script(script, workdir)
    assert result["status"] == "ok"
    [observation] = audits(frames, "observation")
    assert observation.startswith("error: ")
    assert last_message(requests[1]) == f"Observation: {observation}"


def test_unknown_action_is_rejected_with_feedback(workdir: Path) -> None:
    script = {"default": [{"action": "dance", "action_input": "now"}, FINAL]}
    result, frames, requests = run_script(script, workdir)
    assert result["status"] == "ok"
    [error] = audits(frames, "system_error")
    assert error.startswith("rejected step (turn 1): unknown action 'dance'")
    assert last_message(requests[1]).startswith("Observation: error: unknown action 'dance'")


def test_long_observation_is_clipped(workdir: Path) -> None:
    (workdir / "big.txt").write_text("line\n" * 5000)
    script = {"default": [{"action": "file_read", "action_input": "big.txt"}, FINAL]}
    tools = {"timeout_ms": 5000, "max_observation_chars": 500}
    _, frames, requests = run_script(script, workdir, tools=tools)
    [observation] = audits(frames, "observation")
    assert len(observation) <= 500
    assert "clipped" in observation
    assert last_message(requests[1]) == f"Observation: {observation}"


def test_backend_down_ends_the_run_with_one_line(workdir: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    frames: list[dict[str, Any]] = []
    spec = make_spec(f"http://127.0.0.1:{port}/v1", workdir, token=TOKEN)
    result = run_agent(spec, frames.append)
    assert result["status"] == "error"
    assert result["answer"] is None
    assert result["error"] == (
        f"model backend unreachable at http://127.0.0.1:{port}/v1 (connection refused); "
        "is the server running? check [backend] base_url"
    )
    assert audit_kinds(frames) == ["run", "system_error"]
    assert audits(frames, "system_error") == [result["error"]]


def test_injected_backend_is_used(workdir: Path) -> None:
    with ScriptedModel({"default": [{"final": "from the injected client"}]}) as model:
        backend = Backend(
            base_url=model.base_url,
            model="scripted",
            timeout_ms=2000,
            token=None,
            retries=0,
        )
        spec = make_spec("http://127.0.0.1:1/never-used", workdir)
        result = run_agent(spec, [].append, backend=backend)
    assert result["answer"] == "from the injected client"


def test_invalid_base_url_is_one_line_error(workdir: Path) -> None:
    frames: list[dict[str, Any]] = []
    result = run_agent(make_spec("ftp://somewhere/v1", workdir), frames.append)
    assert result["status"] == "error"
    assert "check [backend] base_url" in result["error"]
    assert audit_kinds(frames) == ["run", "system_error"]


def test_token_never_appears_in_frames_or_result(workdir: Path) -> None:
    # The token reaches the model (as its key) and, through a file, the agent's observations.
    (workdir / "leak.txt").write_text(f"key={TOKEN}\n")
    script = {
        "require_token": TOKEN,
        "rules": [
            {
                "match": "leak",
                "steps": [
                    {"action": "file_read", "action_input": "leak.txt"},
                    {"final": f"the key is {TOKEN}"},
                ],
            }
        ],
        "default": [FINAL],
    }
    result, frames, requests = run_script(script, workdir, token=TOKEN, goal="leak it")
    assert requests[0].authorization_correct is True
    assert TOKEN not in json.dumps(frames)
    assert TOKEN not in json.dumps(result)
    assert "[redacted]" in audits(frames, "observation")[0]
    assert result["answer"] == "the key is [redacted]"


def test_rejected_key_ends_the_run_without_showing_it(workdir: Path) -> None:
    script = {"require_token": "the-expected-token", "default": [FINAL]}
    result, frames, requests = run_script(script, workdir, token=TOKEN)
    assert result["status"] == "error"
    assert result["error"].startswith("model backend rejected the API key (HTTP 401)")
    assert len(requests) == 1
    assert TOKEN not in json.dumps(frames) + json.dumps(result)


@pytest.mark.parametrize(("mode", "reached"), [("unrestricted", True), ("guarded", False)])
def test_internal_http_is_blocked_in_guarded_runs_only(
    workdir: Path, mode: str, reached: bool
) -> None:
    with ScriptedModel({"default": [{"final": "x"}]}) as target:
        url = target.base_url + "/models"
        script = {
            "default": [
                {"thought": "fetch", "action": "http_request", "action_input": url},
                {"final": "fetched"},
            ]
        }
        _, frames, _ = run_script(script, workdir, mode=mode)
        hits = [r for r in target.requests if r.path.endswith("/models")]
    assert bool(hits) is reached
    if not reached:
        assert audits(frames, "policy_deny")


# -- spend: usage frames, budgets and fallback in the worker ---------------------------


def usage_frames(frames: list[dict[str, Any]]) -> list[tuple[int, int, bool, str]]:
    return [
        (f["input"], f["output"], f["reported"], f["backend"])
        for f in frames
        if f["type"] == "usage"
    ]


def test_each_answer_is_reported_in_a_usage_frame(tmp_path: Path) -> None:
    script = {
        "default": [
            {"action": "glob", "action_input": "*", "usage": {"input": 10, "output": 2}},
            {"final": "done", "usage": None},
        ]
    }
    result, frames, _ = run_script(script, tmp_path, backend_name="local")
    assert result["status"] == "ok"
    assert usage_frames(frames) == [(10, 2, True, "local"), (0, 0, False, "local")]


def test_the_worker_stops_before_the_request_past_its_allowance(tmp_path: Path) -> None:
    step = {"action": "glob", "action_input": "*", "usage": {"input": 30, "output": 10}}
    result, frames, requests = run_script(
        {"default": [step] * 6}, tmp_path, budget={"max_tokens": 80, "max_cost": None}
    )
    assert result["status"] == "budget"
    assert "token budget reached (80 of 80" in result["error"]
    assert len(requests) == 2 and len(usage_frames(frames)) == 2


def test_a_spent_cost_allowance_stops_at_once(tmp_path: Path) -> None:
    result, _, requests = run_script({"default": [FINAL]}, tmp_path, budget={"max_cost": 0.0})
    assert result["status"] == "budget" and requests == []


def test_an_unavailable_backend_hands_over_to_its_fallback(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"final": "from b", "usage": {"input": 1, "output": 1}}]}) as b:
        fallback = backend_wire(b.base_url, name="b", prices={"input": 1e6, "output": 0.0})
        frames: list[dict[str, Any]] = []
        spec = make_spec("http://127.0.0.1:9/v1", tmp_path, backend_name="a", fallbacks=[fallback])
        result = run_agent(spec, frames.append)
    assert (result["status"], result["answer"]) == ("ok", "from b")
    (moved,) = [f for f in frames if f["type"] == "fallback"]
    assert (moved["from"], moved["to"]) == ("a", "b")
    assert "unreachable" in moved["reason"]
    assert usage_frames(frames) == [(1, 1, True, "b")]
