"""A scripted OpenAI-compatible model server on loopback, for tests and CI dry runs.

It speaks Chat Completions (`POST <prefix>/chat/completions`), the Responses
API (`POST <prefix>/responses`) and `GET <prefix>/models` for any path prefix,
and answers from a script instead of a model, so a job configuration can be
run end to end without tokens. The reply for a request is chosen statelessly:
the first rule whose regex matches the goal (the first user message) gives
the steps, and the turn index is the number of assistant messages already in
the request. Steps can also inject faults: delays, HTTP errors, hangs,
non-JSON and truncated bodies. See docs/scripted-model.md.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from scoot.records.files import UnreadableFile, read_regular_file

MAX_SCRIPT_BYTES = 16 * 1024 * 1024

DEFAULT_MODEL = "scripted"
EXHAUSTED_REPLY = json.dumps(
    {"thought": "script exhausted", "action": "final", "action_input": "script exhausted"}
)
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# How often a hanging reply looks at its client and at the stop flag.
HANG_POLL_S = 0.05
# An idle keep-alive connection is dropped after this long.
IDLE_CONNECTION_S = 60.0
MAX_PORT = 65535

_SCRIPT_KEYS = frozenset(
    {"model", "models", "rules", "default", "require_token", "serve_models", "usage"}
)
_CONTENT_KEYS = ("action", "final", "raw", "refusal")
_STEP_KEYS = frozenset(
    {
        "thought",
        "action",
        "action_input",
        "final",
        "raw",
        "refusal",
        "delay_ms",
        "status",
        "fail_times",
        "retry_after",
        "hang",
        "body",
        "truncate",
        "usage",
    }
)
# A step's usage: not set (the script's, else the API's usual), none reported, or tokens.
USAGE_UNSET = "unset"
Usage = tuple[int, int] | None | str


class ScriptError(ValueError):
    """A script that cannot be served; the message is one line naming the place."""


@dataclass(frozen=True)
class Step:
    """One scripted reply and the faults injected before it."""

    content: str | None
    refusal: str | None
    delay_ms: int = 0
    status: int | None = None
    fail_times: int | None = None
    retry_after: float | None = None
    hang: bool = False
    body: str | None = None
    truncate: bool = False
    usage: Usage = USAGE_UNSET  # (input, output) tokens, None for none reported

    @property
    def has_fault(self) -> bool:
        return self.status is not None or self.hang or self.body is not None or self.truncate


EXHAUSTED_STEP = Step(content=EXHAUSTED_REPLY, refusal=None)


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Script:
    model: str
    models: tuple[str, ...] | None
    rules: tuple[Rule, ...]
    default: tuple[Step, ...]
    require_token: str | None
    serve_models: bool = True  # False: GET /models is 404, like servers that lack it
    usage: Usage = USAGE_UNSET  # the usage of steps that set none


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; the Authorization value itself is never kept."""

    method: str
    path: str
    headers: dict[str, str]
    authorization_present: bool
    # None when the script requires no token.
    authorization_correct: bool | None
    model: str | None
    message_count: int | None
    goal: str | None
    turn: int | None
    body: Any
    received_at: float = 0.0  # wall-clock time the request line and headers had arrived
    # Model requests being answered when this one arrived, itself included.
    in_flight: int = 0


# --- script parsing (pure) -------------------------------------------------


def _expect_int(value: object, where: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ScriptError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _expect_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ScriptError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _expect_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScriptError(f"{where} must be true or false, got {value!r}")
    return value


def parse_usage(raw: object, where: str) -> Usage:
    """`{"input": N, "output": N}` tokens, or null for a reply that reports no usage."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"input", "output"}:
        raise ScriptError(f'{where} must be {{"input": N, "output": N}} or null')
    return (
        _expect_int(raw.get("input", 0), f"{where}.input", minimum=0),
        _expect_int(raw.get("output", 0), f"{where}.output", minimum=0),
    )


def parse_step(raw: object, where: str) -> Step:
    """Validate one step; `where` names it in errors (e.g. `rules[0].steps[1]`)."""
    if not isinstance(raw, dict):
        raise ScriptError(f"{where} must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise ScriptError(f"{where} has unknown key {unknown[0]!r}")
    kinds = [key for key in _CONTENT_KEYS if key in raw]
    if len(kinds) > 1:
        raise ScriptError(f"{where} sets both {kinds[0]!r} and {kinds[1]!r}; use one per step")
    content: str | None = None
    refusal: str | None = None
    kind = kinds[0] if kinds else None
    if kind == "action":
        thought = _expect_str(raw.get("thought", ""), f"{where}.thought")
        action = _expect_str(raw["action"], f"{where}.action")
        action_input = _expect_str(raw.get("action_input", ""), f"{where}.action_input")
        content = json.dumps({"thought": thought, "action": action, "action_input": action_input})
    elif kind == "final":
        answer = _expect_str(raw["final"], f"{where}.final")
        thought = _expect_str(raw.get("thought", "done"), f"{where}.thought")
        content = json.dumps({"thought": thought, "action": "final", "action_input": answer})
    elif kind == "raw":
        content = _expect_str(raw["raw"], f"{where}.raw")
    elif kind == "refusal":
        refusal = _expect_str(raw["refusal"], f"{where}.refusal")
    allowed_with = {"thought": ("action", "final"), "action_input": ("action",)}
    for key, kinds_allowed in allowed_with.items():
        if key in raw and kind not in kinds_allowed:
            raise ScriptError(
                f"{where}.{key} needs {' or '.join(map(repr, kinds_allowed))} in the same step"
            )
    status = raw.get("status")
    if status is not None and (
        not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599
    ):
        raise ScriptError(f"{where}.status must be an HTTP error status (400-599), got {status!r}")
    fail_times = raw.get("fail_times")
    if fail_times is not None:
        fail_times = _expect_int(fail_times, f"{where}.fail_times", minimum=1)
    retry_after = raw.get("retry_after")
    if retry_after is not None and (
        not isinstance(retry_after, int | float) or isinstance(retry_after, bool) or retry_after < 0
    ):
        raise ScriptError(f"{where}.retry_after must be a number of seconds >= 0")
    body = raw.get("body")
    if body is not None:
        body = _expect_str(body, f"{where}.body")
    step = Step(
        content=content,
        refusal=refusal,
        delay_ms=_expect_int(raw.get("delay_ms", 0), f"{where}.delay_ms", minimum=0),
        status=status,
        fail_times=fail_times,
        retry_after=retry_after,
        hang=_expect_bool(raw.get("hang", False), f"{where}.hang"),
        body=body,
        truncate=_expect_bool(raw.get("truncate", False), f"{where}.truncate"),
        usage=parse_usage(raw["usage"], f"{where}.usage") if "usage" in raw else USAGE_UNSET,
    )
    if kind is None and (not step.has_fault or step.fail_times is not None or step.truncate):
        raise ScriptError(f"{where} has no reply: set one of 'action', 'final', 'raw' or 'refusal'")
    if fail_times is not None and not step.has_fault:
        raise ScriptError(f"{where}.fail_times needs a fault (status, hang, body or truncate)")
    return step


def _parse_steps(raw: object, where: str) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ScriptError(f"{where} must be a list of steps")
    return tuple(parse_step(item, f"{where}[{index}]") for index, item in enumerate(raw))


def parse_script(raw: object) -> Script:
    """Validate a script (as loaded from JSON) or raise ScriptError with one line."""
    if not isinstance(raw, dict):
        raise ScriptError("script must be a JSON object with 'rules' and/or 'default'")
    unknown = sorted(set(raw) - _SCRIPT_KEYS)
    if unknown:
        raise ScriptError(f"script has unknown key {unknown[0]!r}")
    model = _expect_str(raw.get("model", DEFAULT_MODEL), "model")
    models: tuple[str, ...] | None = None
    if "models" in raw:
        listed = raw["models"]
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            raise ScriptError("models must be a list of model names")
        models = tuple(listed)
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ScriptError("rules must be a list")
    rules = []
    for index, rule in enumerate(rules_raw):
        where = f"rules[{index}]"
        if not isinstance(rule, dict):
            raise ScriptError(f"{where} must be an object with 'match' and 'steps'")
        extra = sorted(set(rule) - {"match", "steps"})
        if extra:
            raise ScriptError(f"{where} has unknown key {extra[0]!r}")
        match = _expect_str(rule.get("match"), f"{where}.match")
        try:
            pattern = re.compile(match)
        except re.error as error:
            raise ScriptError(f"{where}.match is not a valid regex ({error})") from None
        rules.append(Rule(pattern, _parse_steps(rule.get("steps"), f"{where}.steps")))
    require_token = raw.get("require_token")
    if require_token is not None:
        require_token = _expect_str(require_token, "require_token")
        if not require_token:
            raise ScriptError("require_token must not be empty")
    return Script(
        model=model,
        models=models,
        rules=tuple(rules),
        default=_parse_steps(raw.get("default", []), "default"),
        require_token=require_token,
        serve_models=_expect_bool(raw.get("serve_models", True), "serve_models"),
        usage=parse_usage(raw["usage"], "usage") if "usage" in raw else USAGE_UNSET,
    )


def load_script(path: str | Path) -> Script:
    """Read and validate a JSON script file; errors name the file (and line:col)."""
    try:
        # A regular file of sane size: a FIFO or a link to /dev/zero must not hang it.
        text = read_regular_file(Path(path), MAX_SCRIPT_BYTES).decode("utf-8")
    except UnreadableFile as error:
        problem = str(error)
        if ": cannot read (" in problem:
            raise ScriptError(
                problem.replace(": cannot read (", ": cannot read script (", 1)
            ) from None
        raise ScriptError(f"{problem}; the script must be a regular file") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: script is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScriptError(
            f"{path}:{error.lineno}:{error.colno}: invalid JSON ({error.msg})"
        ) from None
    except RecursionError:
        raise ScriptError(f"{path}: JSON nested too deeply") from None
    try:
        return parse_script(raw)
    except ScriptError as error:
        raise ScriptError(f"{path}: {error}") from None


# --- choosing a reply (pure) -----------------------------------------------


def _text_of(content: object) -> str:
    """The text of a message's content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def conversation_of(history: object) -> tuple[str, int, int]:
    """(goal, turn index, message count) of a request's messages or Responses input."""
    if isinstance(history, str):
        return history, 0, 1
    if not isinstance(history, list):
        return "", 0, 0
    goal = next(
        (
            _text_of(item.get("content"))
            for item in history
            if isinstance(item, dict) and item.get("role") == "user"
        ),
        "",
    )
    turn = sum(1 for item in history if isinstance(item, dict) and item.get("role") == "assistant")
    return goal, turn, len(history)


def steps_for(script: Script, goal: str) -> tuple[Step, ...]:
    """The steps of the first rule matching the goal, else the default steps."""
    for rule in script.rules:
        if rule.pattern.search(goal):
            return rule.steps
    return script.default


def step_at(steps: tuple[Step, ...], turn: int) -> Step:
    """The step for a turn; past the end, a final answer so every run ends."""
    return steps[turn] if turn < len(steps) else EXHAUSTED_STEP


def usage_of(step: Step, script_usage: Usage = USAGE_UNSET) -> Usage:
    """The usage a reply reports: the step's, else the script's, else USAGE_UNSET."""
    return step.usage if step.usage != USAGE_UNSET else script_usage


def chat_reply(reply_id: str, model: str, step: Step, usage: Usage = USAGE_UNSET) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content, "refusal": None}
    if step.refusal is not None:
        message = {"role": "assistant", "content": None, "refusal": step.refusal}
    reply: dict[str, Any] = {
        "id": reply_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    tokens = (0, 0) if usage == USAGE_UNSET else usage
    if isinstance(tokens, tuple):
        reply["usage"] = {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": tokens[0] + tokens[1],
        }
    return reply


def responses_reply(
    reply_id: str, model: str, step: Step, usage: Usage = USAGE_UNSET
) -> dict[str, Any]:
    if step.refusal is not None:
        parts: list[dict[str, Any]] = [{"type": "refusal", "refusal": step.refusal}]
    else:
        parts = [{"type": "output_text", "text": step.content or "", "annotations": []}]
    reply: dict[str, Any] = {
        "id": reply_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": f"msg-{reply_id}",
                "role": "assistant",
                "status": "completed",
                "content": parts,
            }
        ],
    }
    if step.refusal is None:
        reply["output_text"] = step.content or ""
    if isinstance(usage, tuple):
        reply["usage"] = {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return reply


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


# --- the HTTP shell --------------------------------------------------------


class _AttemptCounter:
    """Counts attempts per (goal, turn), so `fail_times` fails only the first K."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, int], int] = {}

    def next_attempt(self, goal: str, turn: int) -> int:
        with self._lock:
            attempt = self._attempts.get((goal, turn), 0) + 1
            self._attempts[(goal, turn)] = attempt
            return attempt


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must return even while a scripted reply hangs.
    block_on_close = False

    def __init__(self, address: tuple[str, int], model: ScriptedModel) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.model = model
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-reply is normal here (timeouts, hangs).
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scoot-scripted-model"
    timeout = IDLE_CONNECTION_S
    server: _Server
    in_flight = False  # a model request of this handler counts as being answered

    def setup(self) -> None:
        super().setup()
        self.server.model._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.model._track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.model._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.model._serve(self, "POST")

    def send_json(
        self, status: int, payload: object, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_bytes(status, json.dumps(payload).encode("utf-8"), extra_headers)

    def send_bytes(
        self, status: int, data: bytes, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        self.server.model._answered(self)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class ScriptedModel:
    """A scripted model server on a background thread; use as a context manager.

    `ScriptedModel(script)` accepts a script dict (as in a JSON file) or a
    parsed `Script`. After `start()`, `base_url` is e.g.
    `http://127.0.0.1:43211/v1` and `requests` lists what the server received.
    """

    def __init__(
        self,
        script: Mapping[str, Any] | Script,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.script = script if isinstance(script, Script) else parse_script(dict(script))
        self._address = (host, port)
        self._log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._attempts = _AttemptCounter()
        self._reply_count = 0
        self._in_flight = 0
        self._peak_in_flight = 0

    # lifecycle

    def start(self) -> ScriptedModel:
        """Bind and serve on a daemon thread; raises OSError if the address is taken."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-model",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even while replies hang."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ScriptedModel is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = self._address[0]
        shown_host = f"[{host}]" if ":" in host else host
        return f"http://{shown_host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def peak_in_flight(self) -> int:
        """The most model requests (chat or responses) it was answering at once."""
        with self._lock:
            return self._peak_in_flight

    # request handling (runs on the server's handler threads)

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _next_reply_id(self) -> str:
        with self._lock:
            self._reply_count += 1
            return f"scripted-{self._reply_count}"

    def _serve(self, handler: _Handler, method: str) -> None:
        counted = method == "POST" and self._endpoint(
            method, handler.path.split("?", 1)[0].rstrip("/")
        ) in ("chat", "responses")
        if counted:
            with self._lock:
                self._in_flight += 1
                self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            handler.in_flight = True
        try:
            self._answer(handler, method)
        except OSError:
            # The client went away; nothing left to answer.
            handler.close_connection = True
        except Exception as error:  # a server bug still answers, as one line
            handler.close_connection = True
            message = f"scripted model failed: {type(error).__name__}: {error}"
            if self._log is not None:
                self._log(message)
            with contextlib.suppress(OSError):
                self._send_error(handler, 500, message, "server_error")
        finally:
            self._answered(handler)

    def _answered(self, handler: _Handler) -> None:
        """A model request stops counting as in flight just before its reply is written.

        So a client's next request, sent after it read this reply, never
        overlaps this one in the count.
        """
        if handler.in_flight:
            handler.in_flight = False
            with self._lock:
                self._in_flight -= 1

    def _answer(self, handler: _Handler, method: str) -> None:
        received_at = time.time()
        path = handler.path.split("?", 1)[0].rstrip("/")
        authorization = handler.headers.get("Authorization")
        required = self.script.require_token
        correct = None if required is None else authorization == f"Bearer {required}"
        body, body_error = self._read_body(handler) if method == "POST" else (None, None)
        endpoint = self._route(method, path)
        model = body.get("model") if isinstance(body, dict) else None
        history = None
        if isinstance(body, dict):
            history = body.get("messages") if endpoint == "chat" else body.get("input")
        goal, turn, count = conversation_of(history) if history is not None else (None, None, None)
        self._record(
            RecordedRequest(
                method=method,
                path=handler.path,
                headers={k: v for k, v in handler.headers.items() if k.lower() != "authorization"},
                authorization_present=authorization is not None,
                authorization_correct=correct,
                model=model if isinstance(model, str) else None,
                message_count=count,
                goal=goal,
                turn=turn,
                body=body,
                received_at=received_at,
                in_flight=self._in_flight,
            )
        )
        if correct is False:
            message = "Incorrect API key provided" if authorization else "Missing bearer token"
            self._send_error(handler, 401, message, "invalid_request_error", "invalid_api_key")
        elif endpoint is None:
            self._send_error(handler, 404, f"no route for {method} {path or '/'}", "not_found")
        elif endpoint == "models":
            names = self.script.models or (self.script.model,)
            models = [{"id": name, "object": "model", "owned_by": "scoot"} for name in names]
            handler.send_json(200, {"object": "list", "data": models})
        elif body_error is not None:
            self._send_error(handler, 400, body_error, "invalid_request_error")
        elif not isinstance(model, str) or not model:
            self._send_error(
                handler, 400, "you must provide a model parameter", "invalid_request_error"
            )
        elif self.script.models is not None and model not in self.script.models:
            self._send_error(
                handler,
                404,
                f"model '{model}' not found",
                "invalid_request_error",
                "model_not_found",
            )
        elif history is None or goal is None or turn is None:
            field = "messages" if endpoint == "chat" else "input"
            self._send_error(
                handler, 400, f"missing required parameter '{field}'", "invalid_request_error"
            )
        else:
            step = step_at(steps_for(self.script, goal), turn)
            self._reply(handler, endpoint, model, goal, turn, step)
        self._log_line(method, path, model, turn)

    @staticmethod
    def _endpoint(method: str, path: str) -> str | None:
        if method == "POST" and path.endswith("/chat/completions"):
            return "chat"
        if method == "POST" and path.endswith("/responses"):
            return "responses"
        if method == "GET" and path.endswith("/models"):
            return "models"
        return None

    def _route(self, method: str, path: str) -> str | None:
        endpoint = self._endpoint(method, path)
        return None if endpoint == "models" and not self.script.serve_models else endpoint

    @staticmethod
    def _read_body(handler: _Handler) -> tuple[Any, str | None]:
        length_header = handler.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            handler.close_connection = True
            return None, "request needs a Content-Length"
        length = int(length_header)
        if length > MAX_REQUEST_BYTES:
            handler.close_connection = True
            return None, f"request body of {length} bytes is too large"
        data = handler.rfile.read(length)
        try:
            return json.loads(data), None
        except (UnicodeDecodeError, ValueError):
            return None, "request body is not valid JSON"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _log_line(self, method: str, path: str, model: object, turn: int | None) -> None:
        if self._log is not None:
            self._log(f"{method} {path or '/'} model={model} turn={turn}")

    def _send_error(
        self,
        handler: _Handler,
        status: int,
        message: str,
        error_type: str,
        code: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        handler.send_json(status, error_body(message, error_type, code), extra_headers)

    def _reply(
        self, handler: _Handler, endpoint: str, model: str, goal: str, turn: int, step: Step
    ) -> None:
        if step.delay_ms and self._stopping.wait(step.delay_ms / 1000):
            handler.close_connection = True
            return
        faulty = step.has_fault and (
            step.fail_times is None or self._attempts.next_attempt(goal, turn) <= step.fail_times
        )
        if faulty and step.hang:
            self._hang(handler)
            return
        if faulty and step.status is not None:
            headers = {}
            if step.retry_after is not None:
                headers["Retry-After"] = f"{step.retry_after:g}"
            phrase = _status_phrase(step.status)
            code = "rate_limit_exceeded" if step.status == 429 else None
            self._send_error(
                handler,
                step.status,
                f"scripted {step.status} {phrase}",
                "server_error",
                code,
                headers,
            )
            return
        if faulty and step.body is not None:
            # surrogateescape lets a script send arbitrary bytes, e.g. invalid UTF-8.
            handler.send_bytes(200, step.body.encode("utf-8", "surrogateescape"))
            return
        reply_id = self._next_reply_id()
        build = chat_reply if endpoint == "chat" else responses_reply
        usage = usage_of(step, self.script.usage)
        data = json.dumps(build(reply_id, model, step, usage)).encode("utf-8", "surrogateescape")
        if faulty and step.truncate:
            data = data[: len(data) // 2]
        handler.send_bytes(200, data)

    def _hang(self, handler: _Handler) -> None:
        """Answer nothing until the client disconnects or the server stops."""
        handler.close_connection = True
        connection = handler.connection
        while not self._stopping.is_set():
            readable, _, _ = select.select([connection], [], [], HANG_POLL_S)
            if not readable:
                continue
            try:
                if not connection.recv(1, socket.MSG_PEEK):
                    return
            except OSError:
                return
            # Unexpected extra bytes from the client: keep hanging without spinning.
            self._stopping.wait(HANG_POLL_S)


# --- command line ----------------------------------------------------------


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class _StopSignal:
    event: threading.Event

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()


def serve_forever(script_path: str | Path, host: str = "127.0.0.1", port: int = 0) -> int:
    """Serve a script file until SIGTERM or SIGINT; returns the exit code (0, 1 or 2)."""
    if not 0 <= port <= MAX_PORT:
        _stderr_line(f"scoot: invalid port {port}: use a number from 0 to 65535")
        return 2
    try:
        script = load_script(script_path)
    except ScriptError as error:
        _stderr_line(f"scoot: {error}")
        return 2
    model = ScriptedModel(script, host, port, log=_stderr_line)
    try:
        model.start()
    except OSError as error:
        reason = error.strerror or str(error)
        _stderr_line(
            f"scoot: cannot listen on {host}:{port} ({reason}); choose another --host or --port"
        )
        return 1
    stop_requested = threading.Event()
    previous = {
        signum: signal.signal(signum, _StopSignal(stop_requested))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        # Nobody reading stdout is no reason to stop serving.
        with contextlib.suppress(OSError):
            print(f"scripted model listening on {model.base_url}", flush=True)
        # A signal does not cut a timed wait short, so wait in short slices.
        while not stop_requested.wait(0.1):
            pass
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        model.stop()
    return 0
