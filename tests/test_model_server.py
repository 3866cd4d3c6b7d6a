"""The scripted model server over real HTTP on loopback, and its command line."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from scoot.testing.model_server import (
    EXHAUSTED_REPLY,
    ScriptedModel,
    ScriptError,
    load_script,
    parse_script,
)

STEPS_SCRIPT: dict[str, Any] = {
    "rules": [
        {
            "match": "list files",
            "steps": [
                {"thought": "look", "action": "glob", "action_input": "*"},
                {"final": "two files", "thought": "seen"},
            ],
        },
        {"match": "^raw", "steps": [{"raw": "not json at all"}]},
    ],
    "default": [{"final": "default answer"}],
}


def request(
    base_url: str,
    path: str,
    body: object | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, parts.path + path, body=data, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def chat(base_url: str, messages: list[dict[str, Any]], **kwargs: Any) -> tuple[int, dict, bytes]:
    return request(base_url, "/chat/completions", {"model": "m", "messages": messages}, **kwargs)


def conversation(goal: str, turn: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "you are scoot"},
        {"role": "user", "content": goal},
    ]
    for _ in range(turn):
        messages += [
            {"role": "assistant", "content": "{}"},
            {"role": "user", "content": "Observation: ok"},
        ]
    return messages


def chat_content(goal: str, turn: int, base_url: str) -> str:
    status, _, body = chat(base_url, conversation(goal, turn))
    assert status == 200, body
    return json.loads(body)["choices"][0]["message"]["content"]


def test_chat_replies_follow_the_matching_rule_by_turn() -> None:
    with ScriptedModel(STEPS_SCRIPT) as model:
        first = chat_content("please list files here", 0, model.base_url)
        second = chat_content("please list files here", 1, model.base_url)
        third = chat_content("please list files here", 2, model.base_url)
        fallback = chat_content("something else", 0, model.base_url)
        raw = chat_content("raw output please", 0, model.base_url)
    assert json.loads(first) == {"thought": "look", "action": "glob", "action_input": "*"}
    assert json.loads(second) == {"thought": "seen", "action": "final", "action_input": "two files"}
    assert third == EXHAUSTED_REPLY
    assert json.loads(fallback)["action_input"] == "default answer"
    assert raw == "not json at all"


def test_chat_reply_has_the_openai_shape() -> None:
    with ScriptedModel(STEPS_SCRIPT) as model:
        status, headers, body = chat(model.base_url, conversation("x", 0))
    reply = json.loads(body)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "m"
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_any_path_prefix_is_served() -> None:
    with ScriptedModel(STEPS_SCRIPT) as model:
        root = f"http://127.0.0.1:{model.port}"
        status, _, body = chat(root + "/some/prefix", conversation("x", 0))
        bare_status, _, _ = chat(root, conversation("x", 0))
    assert status == 200 and bare_status == 200
    assert json.loads(json.loads(body)["choices"][0]["message"]["content"])["action"] == "final"


def test_responses_api_reply_carries_output_text_and_parts() -> None:
    with ScriptedModel(STEPS_SCRIPT) as model:
        status, _, body = request(
            model.base_url,
            "/responses",
            {"model": "m", "input": [{"role": "user", "content": "list files"}]},
        )
        _, _, from_string = request(
            model.base_url, "/responses", {"model": "m", "input": "list files"}
        )
    reply = json.loads(body)
    assert status == 200
    assert reply["object"] == "response"
    part = reply["output"][0]["content"][0]
    assert part["type"] == "output_text"
    assert part["text"] == reply["output_text"]
    assert json.loads(reply["output_text"])["action"] == "glob"
    assert json.loads(json.loads(from_string)["output_text"])["action"] == "glob"


def test_responses_input_parts_and_turn_counting() -> None:
    with ScriptedModel(STEPS_SCRIPT) as model:
        _, _, body = request(
            model.base_url,
            "/responses",
            {
                "model": "m",
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "list files"}]},
                    {"role": "assistant", "content": [{"type": "output_text", "text": "{}"}]},
                    {"role": "user", "content": "Observation: a b"},
                ],
            },
        )
    assert json.loads(json.loads(body)["output_text"])["action_input"] == "two files"


def test_refusal_step_in_both_apis() -> None:
    script = {"default": [{"refusal": "I cannot help with that"}]}
    with ScriptedModel(script) as model:
        _, _, responses_body = request(
            model.base_url, "/responses", {"model": "m", "input": "do it"}
        )
        _, _, chat_body = chat(model.base_url, conversation("do it", 0))
    response = json.loads(responses_body)
    assert "output_text" not in response
    assert response["output"][0]["content"] == [
        {"type": "refusal", "refusal": "I cannot help with that"}
    ]
    message = json.loads(chat_body)["choices"][0]["message"]
    assert message["content"] is None
    assert message["refusal"] == "I cannot help with that"


def test_models_endpoint_and_unknown_model() -> None:
    script = {"models": ["alpha", "beta"], "default": [{"final": "ok"}]}
    with ScriptedModel(script) as model:
        status, _, listing = request(model.base_url, "/models", method="GET")
        missing_status, _, missing = request(
            model.base_url,
            "/chat/completions",
            {"model": "gamma", "messages": conversation("x", 0)},
        )
        known_status, _, _ = request(
            model.base_url, "/chat/completions", {"model": "beta", "messages": conversation("x", 0)}
        )
    assert status == 200
    assert [entry["id"] for entry in json.loads(listing)["data"]] == ["alpha", "beta"]
    assert missing_status == 404
    assert json.loads(missing)["error"] == {
        "message": "model 'gamma' not found",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    assert known_status == 200


def test_required_token_and_what_is_recorded() -> None:
    token = "sk-scripted-secret-123"
    script = {"require_token": token, "default": [{"final": "ok"}]}
    with ScriptedModel(script) as model:
        absent, _, _ = chat(model.base_url, conversation("x", 0))
        wrong, _, wrong_body = chat(
            model.base_url, conversation("x", 0), headers={"Authorization": "Bearer nope"}
        )
        right, _, _ = chat(
            model.base_url, conversation("x", 0), headers={"Authorization": f"Bearer {token}"}
        )
        recorded = model.requests
    assert (absent, wrong, right) == (401, 401, 200)
    assert json.loads(wrong_body)["error"]["code"] == "invalid_api_key"
    assert [(r.authorization_present, r.authorization_correct) for r in recorded] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    assert all(token not in repr(r) for r in recorded)
    assert recorded[2].path == "/v1/chat/completions"
    assert recorded[2].model == "m"
    assert recorded[2].message_count == 2
    assert recorded[2].turn == 0


def test_unknown_route_and_bad_request_bodies() -> None:
    with ScriptedModel(STEPS_SCRIPT) as model:
        route, _, _ = request(model.base_url, "/embeddings", {"model": "m"})
        no_model, _, no_model_body = request(
            model.base_url, "/chat/completions", {"messages": conversation("x", 0)}
        )
        no_messages, _, _ = request(model.base_url, "/chat/completions", {"model": "m"})
        parts = urlsplit(model.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        connection.request("POST", "/v1/chat/completions", body=b"{nope")
        not_json = connection.getresponse().status
        connection.close()
    assert (route, no_model, no_messages, not_json) == (404, 400, 400, 400)
    assert "model" in json.loads(no_model_body)["error"]["message"]


def test_status_fault_fails_the_first_attempts_of_that_turn_only() -> None:
    script = {
        "default": [
            {"final": "recovered", "status": 503, "fail_times": 2},
        ]
    }
    with ScriptedModel(script) as model:
        statuses = [chat(model.base_url, conversation("goal a", 0))[0] for _ in range(3)]
        other_goal = chat(model.base_url, conversation("goal b", 0))[0]
        _, _, body = chat(model.base_url, conversation("goal a", 0))
    assert statuses == [503, 503, 200]
    # Another conversation has its own attempt count.
    assert other_goal == 503
    assert json.loads(json.loads(body)["choices"][0]["message"]["content"])["action_input"] == (
        "recovered"
    )


def test_status_fault_without_fail_times_always_fails_with_retry_after() -> None:
    script = {"default": [{"status": 429, "retry_after": 3}]}
    with ScriptedModel(script) as model:
        results = [chat(model.base_url, conversation("x", 0)) for _ in range(3)]
    assert [status for status, _, _ in results] == [429, 429, 429]
    assert results[0][1]["Retry-After"] == "3"
    assert json.loads(results[0][2])["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [401, 404, 500])
def test_each_error_status_is_served(status: int) -> None:
    with ScriptedModel({"default": [{"status": status}]}) as model:
        got, _, body = chat(model.base_url, conversation("x", 0))
    assert got == status
    assert "error" in json.loads(body)


def test_delay_answers_late() -> None:
    with ScriptedModel({"default": [{"final": "slow", "delay_ms": 300}]}) as model:
        started = time.monotonic()
        status, _, _ = chat(model.base_url, conversation("x", 0))
        elapsed = time.monotonic() - started
    assert status == 200
    assert 0.29 <= elapsed < 20


def test_hang_never_answers_and_stop_does_not_wait_for_it() -> None:
    model = ScriptedModel({"default": [{"hang": True}]}).start()
    try:
        with pytest.raises(TimeoutError):
            chat(model.base_url, conversation("x", 0), timeout=0.3)
        # A second client still waiting while the server stops.
        outcome: list[object] = []

        def wait_forever() -> None:
            try:
                outcome.append(chat(model.base_url, conversation("x", 0), timeout=30))
            except (OSError, http.client.HTTPException) as error:
                outcome.append(error)

        waiter = threading.Thread(target=wait_forever, daemon=True)
        waiter.start()
        time.sleep(0.2)
    finally:
        started = time.monotonic()
        model.stop()
        stop_took = time.monotonic() - started
    waiter.join(timeout=5)
    assert stop_took < 15  # the waiting client would hold on for 30 s
    assert len(outcome) == 1 and isinstance(outcome[0], OSError | http.client.HTTPException)


def test_hang_with_fail_times_then_answers() -> None:
    with ScriptedModel({"default": [{"final": "late", "hang": True, "fail_times": 1}]}) as model:
        with pytest.raises(TimeoutError):
            chat(model.base_url, conversation("x", 0), timeout=0.2)
        status, _, _ = chat(model.base_url, conversation("x", 0))
    assert status == 200


def test_body_fault_sends_exactly_that_body() -> None:
    with ScriptedModel({"default": [{"body": "not json"}]}) as model:
        status, _, body = chat(model.base_url, conversation("x", 0))
    assert status == 200
    assert body == b"not json"


def test_body_fault_can_carry_invalid_utf8() -> None:
    with ScriptedModel({"default": [{"body": "\udcff\udcfe"}]}) as model:
        _, _, body = chat(model.base_url, conversation("x", 0))
    assert body == b"\xff\xfe"


def test_truncate_fault_sends_malformed_json() -> None:
    with ScriptedModel({"default": [{"final": "whole", "truncate": True}]}) as model:
        status, _, body = chat(model.base_url, conversation("x", 0))
    assert status == 200
    assert body.startswith(b'{"id"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_concurrent_conversations_are_counted_independently() -> None:
    script = {
        "rules": [
            {
                "match": f"goal {n}$",
                "steps": [{"raw": f"{n}-{turn}", "delay_ms": 20} for turn in range(3)],
            }
            for n in range(8)
        ]
    }
    answers: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def converse(n: int, base_url: str) -> None:
        try:
            answers[n] = [chat_content(f"goal {n}", turn, base_url) for turn in range(3)]
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    with ScriptedModel(script) as model:
        threads = [threading.Thread(target=converse, args=(n, model.base_url)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        recorded = len(model.requests)
    assert errors == []
    assert answers == {n: [f"{n}-0", f"{n}-1", f"{n}-2"] for n in range(8)}
    assert recorded == 24


@pytest.mark.parametrize(
    ("script", "complaint"),
    [
        ([], "script must be a JSON object"),
        ({"rulez": []}, "unknown key 'rulez'"),
        ({"rules": [{"match": "(", "steps": []}]}, "rules[0].match is not a valid regex"),
        ({"rules": [{"steps": []}]}, "rules[0].match must be a string"),
        ({"default": [{"final": "a", "raw": "b"}]}, "sets both 'final' and 'raw'"),
        ({"default": [{"final": 3}]}, "default[0].final must be a string"),
        ({"default": [{"final": "a", "fail_time": 1}]}, "default[0] has unknown key 'fail_time'"),
        ({"default": [{"final": "a", "status": 200}]}, "HTTP error status"),
        ({"default": [{"final": "a", "fail_times": 2}]}, "fail_times needs a fault"),
        ({"default": [{"delay_ms": 5}]}, "default[0] has no reply"),
        ({"default": [{"raw": "x", "thought": "t"}]}, "thought needs 'action' or 'final'"),
        ({"default": [{"final": "x", "hang": "yes"}]}, "hang must be true or false"),
        ({"models": "gpt"}, "models must be a list"),
    ],
)
def test_invalid_scripts_are_refused_with_one_line(script: object, complaint: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script(script)
    assert complaint in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_fault_without_reply_is_valid_when_it_always_applies() -> None:
    parsed = parse_script({"default": [{"status": 500}, {"hang": True}]})
    assert [step.status for step in parsed.default] == [500, None]


def test_load_script_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text('{\n  "default": [,]\n}\n')
    with pytest.raises(ScriptError, match=r"script\.json:2:15: invalid JSON"):
        load_script(path)
    with pytest.raises(ScriptError, match="cannot read script"):
        load_script(tmp_path / "missing.json")


# --- the command line, as a real subprocess --------------------------------


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scoot.testing", "serve-model", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(tmp_path: Path, stop_signal: signal.Signals) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(STEPS_SCRIPT))
    process = start_cli("--script", str(script))
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("scripted model listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1].strip()
        assert base_url.endswith("/v1")
        assert json.loads(chat_content("list files", 0, base_url))["action"] == "glob"
        process.send_signal(stop_signal)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{oops", "invalid JSON"),
        ('{"default": [{"final": 1}]}', "default[0].final must be a string"),
        (None, "cannot read script"),
    ],
)
def test_cli_bad_script_exits_2_with_one_line(
    tmp_path: Path, content: str | None, complaint: str
) -> None:
    script = tmp_path / "script.json"
    if content is not None:
        script.write_text(content)
    process = start_cli("--script", str(script))
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert complaint in lines[0] and str(script) in lines[0]


def test_cli_usage_error_is_one_line() -> None:
    process = start_cli("--port", "x")
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert len(stderr.strip().splitlines()) == 1
