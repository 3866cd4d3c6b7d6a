"""The scripted model's HTTP server on loopback: one thread per connection, requests recorded."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from scoot.shared.value_class import value_class
from scoot.testing.model_server.handler import (
    _AttemptCounter,
    _Handler,
    _Server,
    endpoint_of,
    hang_until_closed,
    read_json_body,
)
from scoot.testing.model_server.replies import (
    chat_reply,
    conversation_of,
    responses_reply,
)
from scoot.testing.model_server.script import (
    Script,
    Step,
    parse_script,
    step_at,
    steps_for,
    usage_of,
)


@value_class
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
        counted = method == "POST" and endpoint_of(
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
                handler.send_api_error(500, message, "server_error")
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
        body, body_error = read_json_body(handler) if method == "POST" else (None, None)
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
            handler.send_api_error(401, message, "invalid_request_error", "invalid_api_key")
        elif endpoint is None:
            handler.send_api_error(404, f"no route for {method} {path or '/'}", "not_found")
        elif endpoint == "models":
            names = self.script.models or (self.script.model,)
            models = [{"id": name, "object": "model", "owned_by": "scoot"} for name in names]
            handler.send_json(200, {"object": "list", "data": models})
        elif body_error is not None:
            handler.send_api_error(400, body_error, "invalid_request_error")
        elif not isinstance(model, str) or not model:
            handler.send_api_error(
                400, "you must provide a model parameter", "invalid_request_error"
            )
        elif self.script.models is not None and model not in self.script.models:
            handler.send_api_error(
                404,
                f"model '{model}' not found",
                "invalid_request_error",
                "model_not_found",
            )
        elif history is None or goal is None or turn is None:
            field = "messages" if endpoint == "chat" else "input"
            handler.send_api_error(
                400, f"missing required parameter '{field}'", "invalid_request_error"
            )
        else:
            step = step_at(steps_for(self.script, goal), turn)
            self._reply(handler, endpoint, model, goal, turn, step)
        self._log_line(method, path, model, turn)

    def _route(self, method: str, path: str) -> str | None:
        endpoint = endpoint_of(method, path)
        return None if endpoint == "models" and not self.script.serve_models else endpoint

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _log_line(self, method: str, path: str, model: object, turn: int | None) -> None:
        if self._log is not None:
            self._log(f"{method} {path or '/'} model={model} turn={turn}")

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
            hang_until_closed(handler, self._stopping)
            return
        if faulty and step.status is not None:
            handler.send_scripted_status(step.status, step.retry_after)
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
