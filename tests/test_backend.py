"""The model backend client against the scripted model over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from scoot.testing.model_server import ScriptedModel
from worker.backend import (
    RETRY_AFTER_CAP_S,
    Backend,
    BackendError,
    backoff_seconds,
    responses_text,
)

TOKEN = "sk-test-0123456789abcdef"
MESSAGES = [
    {"role": "system", "content": "you are scoot"},
    {"role": "user", "content": "check the disk"},
]
STEP = {"thought": "t", "action": "final", "action_input": "all good"}


class Sleeps:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_backend(base_url: str, *, sleeps: Sleeps | None = None, **overrides: Any) -> Backend:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "model": "scripted",
        "api": "chat",
        "timeout_ms": 5000,
        "token": TOKEN,
        "extra_body": None,
        "retries": 2,
        "sleep": sleeps if sleeps is not None else Sleeps(),
        "rng": lambda: 0.5,
    }
    settings.update(overrides)
    return Backend(**settings)


def failure(backend: Backend) -> BackendError:
    with pytest.raises(BackendError) as caught:
        backend.complete(MESSAGES)
    error = caught.value
    assert "\n" not in error.message
    assert TOKEN not in error.message
    assert TOKEN not in str(error)
    return error


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def test_chat_completion_sends_model_messages_extra_body_and_token() -> None:
    script = {"require_token": TOKEN, "default": [{**STEP}]}
    with ScriptedModel(script) as model:
        backend = make_backend(model.base_url, extra_body={"temperature": 0, "model": "ignored"})
        text = backend.complete(MESSAGES)
        [recorded] = model.requests
    assert json.loads(text) == STEP
    assert recorded.path == "/v1/chat/completions"
    assert recorded.authorization_correct is True
    assert recorded.body == {"temperature": 0, "model": "scripted", "messages": MESSAGES}


def test_responses_api_reads_output_text() -> None:
    with ScriptedModel({"default": [{**STEP}]}) as model:
        text = make_backend(model.base_url, api="responses").complete(MESSAGES)
        [recorded] = model.requests
    assert json.loads(text) == STEP
    assert recorded.path == "/v1/responses"
    assert recorded.body["input"] == MESSAGES


def test_responses_text_joins_parts_when_output_text_is_absent() -> None:
    payload = {
        "output": [
            {"type": "reasoning", "content": []},
            {
                "type": "message",
                "content": [
                    {"type": "output_text", "text": '{"a": '},
                    {"type": "output_text", "text": "1}"},
                ],
            },
        ]
    }
    assert responses_text(payload) == '{"a": 1}'


def test_retries_500_then_succeeds_with_backoff() -> None:
    sleeps = Sleeps()
    with ScriptedModel({"default": [{**STEP, "status": 500, "fail_times": 2}]}) as model:
        text = make_backend(model.base_url, sleeps=sleeps).complete(MESSAGES)
        attempts = len(model.requests)
    assert json.loads(text) == STEP
    assert attempts == 3
    assert sleeps.delays == [backoff_seconds(0, lambda: 0.5), backoff_seconds(1, lambda: 0.5)]
    assert sleeps.delays[1] > sleeps.delays[0]


def test_persistent_5xx_gives_up_after_the_retries() -> None:
    sleeps = Sleeps()
    with ScriptedModel({"default": [{"status": 503}]}) as model:
        error = failure(make_backend(model.base_url, sleeps=sleeps))
        attempts = len(model.requests)
    assert attempts == 3
    assert len(sleeps.delays) == 2
    assert error.kind == "http" and error.retryable
    assert "HTTP 503" in error.message and "after 3 attempts" in error.message


def test_429_honours_retry_after() -> None:
    sleeps = Sleeps()
    script = {"default": [{**STEP, "status": 429, "retry_after": 3, "fail_times": 1}]}
    with ScriptedModel(script) as model:
        text = make_backend(model.base_url, sleeps=sleeps).complete(MESSAGES)
    assert json.loads(text) == STEP
    assert sleeps.delays == [3.0]


def test_429_retry_after_is_capped() -> None:
    sleeps = Sleeps()
    script = {"default": [{**STEP, "status": 429, "retry_after": 100000, "fail_times": 1}]}
    with ScriptedModel(script) as model:
        make_backend(model.base_url, sleeps=sleeps, timeout_ms=120_000).complete(MESSAGES)
    assert sleeps.delays == [RETRY_AFTER_CAP_S]


def test_retry_that_would_outlast_the_total_budget_is_not_attempted() -> None:
    sleeps = Sleeps()
    with ScriptedModel({"default": [{**STEP, "status": 429, "retry_after": 30}]}) as model:
        error = failure(make_backend(model.base_url, sleeps=sleeps, timeout_ms=1000))
        attempts = len(model.requests)
    assert attempts == 1
    assert sleeps.delays == []
    assert "rate limiting" in error.message and "HTTP 429" in error.message


def test_401_is_not_retried_and_never_shows_the_token() -> None:
    sleeps = Sleeps()
    script = {"require_token": "the-right-token", "default": [{**STEP}]}
    with ScriptedModel(script) as model:
        error = failure(make_backend(model.base_url, sleeps=sleeps))
        attempts = len(model.requests)
    assert attempts == 1 and sleeps.delays == []
    assert error.kind == "auth" and not error.retryable
    assert error.message == (
        "model backend rejected the API key (HTTP 401); check the token source "
        "(scoot config shows it)"
    )


def test_401_without_a_token_says_none_was_given() -> None:
    with ScriptedModel({"require_token": "x" * 20, "default": [{**STEP}]}) as model:
        error = failure(make_backend(model.base_url, token=None))
    assert error.kind == "auth"
    assert "none was given" in error.message


def test_unknown_model_names_the_model_and_the_setting() -> None:
    with ScriptedModel({"models": ["llama3"], "default": [{**STEP}]}) as model:
        error = failure(make_backend(model.base_url, model="qwen9"))
        attempts = len(model.requests)
        base_url = model.base_url
    assert attempts == 1
    assert error.kind == "model"
    assert error.message == f"model 'qwen9' not found at {base_url}; check [backend] model"


def test_timeout_on_a_hanging_server() -> None:
    sleeps = Sleeps()
    with ScriptedModel({"default": [{"hang": True}]}) as model:
        started = time.monotonic()
        error = failure(make_backend(model.base_url, sleeps=sleeps, timeout_ms=300))
        elapsed = time.monotonic() - started
        attempts = len(model.requests)
    assert error.kind == "timeout" and not error.retryable
    assert error.message == (
        "model backend timed out after 300 ms; raise [backend] timeout_ms or check the server"
    )
    assert 0.25 <= elapsed < 15  # the 300 ms timeout, not the hanging server
    assert attempts == 1 and sleeps.delays == []


def test_slow_but_timely_answer_is_accepted() -> None:
    with ScriptedModel({"default": [{**STEP, "delay_ms": 100}]}) as model:
        text = make_backend(model.base_url, timeout_ms=2000).complete(MESSAGES)
    assert json.loads(text) == STEP


def test_unreachable_backend_is_retried_then_explained(closed_port: int) -> None:
    sleeps = Sleeps()
    base_url = f"http://127.0.0.1:{closed_port}/v1"
    error = failure(make_backend(base_url, sleeps=sleeps))
    assert error.kind == "unreachable" and error.retryable
    assert len(sleeps.delays) == 2
    assert error.message == (
        f"model backend unreachable at {base_url} (connection refused) after 3 attempts; "
        "is the server running? check [backend] base_url"
    )


@pytest.mark.parametrize("fault", [{"body": "not json"}, {**STEP, "truncate": True}])
def test_malformed_body_is_not_retried(fault: dict[str, Any]) -> None:
    sleeps = Sleeps()
    with ScriptedModel({"default": [fault]}) as model:
        error = failure(make_backend(model.base_url, sleeps=sleeps))
        attempts = len(model.requests)
    assert error.kind == "malformed" and not error.retryable
    assert error.message.startswith("model backend returned a malformed response (not JSON)")
    assert attempts == 1 and sleeps.delays == []


def test_valid_json_without_the_expected_fields_is_malformed() -> None:
    with ScriptedModel({"default": [{"body": '{"choices": []}'}]}) as model:
        error = failure(make_backend(model.base_url))
    assert error.kind == "malformed"
    assert "choices[0].message" in error.message


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_refusal_is_its_own_error(api: str) -> None:
    with ScriptedModel({"default": [{"refusal": "I will not do that"}]}) as model:
        error = failure(make_backend(model.base_url, api=api))
    assert error.kind == "refusal" and not error.retryable
    assert "I will not do that" in error.message


def test_invalid_utf8_in_the_content_is_handed_over_as_surrogates() -> None:
    body = '{"choices": [{"message": {"role": "assistant", "content": "ab\udcffcd"}}]}'
    with ScriptedModel({"default": [{"body": body}]}) as model:
        text = make_backend(model.base_url).complete(MESSAGES)
    assert text == "ab\udcffcd"


def test_base_url_must_be_http() -> None:
    with pytest.raises(BackendError) as caught:
        make_backend("localhost:11434/v1")
    assert caught.value.message == (
        "model backend base_url 'localhost:11434/v1' is not an http:// or https:// URL; "
        "check [backend] base_url"
    )


class EchoingHandler(BaseHTTPRequestHandler):
    """A server that echoes the Authorization header in its error message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"error": {"message": f"bad key {self.headers['Authorization']}"}})
        data = body.encode()
        self.send_response(400)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echoing_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), EchoingHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_token_echoed_by_the_server_is_redacted(echoing_server: str) -> None:
    error = failure(make_backend(echoing_server))
    assert error.kind == "http"
    assert "HTTP 400: bad key Bearer [redacted]" in error.message
