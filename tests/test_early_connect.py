"""A model connection opened before the instant: used by the first request, redone if stale."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from scoot.testing.model_server import ScriptedModel
from worker.backend import Backend, BackendError

MESSAGES = [{"role": "user", "content": "hello"}]


def test_the_first_request_goes_over_the_early_connection() -> None:
    with ScriptedModel({"default": [{"final": "early"}]}) as model:
        backend = Backend(base_url=model.base_url, model="scripted", timeout_ms=5000, token=None)
        backend.connect_early()
        assert model.requests == []  # connected, nothing asked
        reply = backend.complete(MESSAGES)
        requests = model.requests
    assert json.loads(reply)["action_input"] == "early"
    assert len(requests) == 1


class ClosesItsFirstConnection:
    """A server that drops its first connection unanswered (an idle timeout) and answers the next."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.first_closed = threading.Event()
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        first, _ = self.listener.accept()
        first.close()
        self.first_closed.set()
        second, _ = self.listener.accept()
        with second:
            data = b""
            while b"\r\n\r\n" not in data:
                data += second.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += second.recv(65536)
            self.requests.append(body)
            answer = json.dumps({"choices": [{"message": {"content": "answered anew"}}]}).encode()
            second.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )


def test_an_early_connection_the_server_closed_is_opened_anew_without_a_retry() -> None:
    server = ClosesItsFirstConnection()
    backend = Backend(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        model="m",
        timeout_ms=5000,
        token=None,
        retries=0,  # the new connection is not a retry: with none allowed it still answers
    )
    backend.connect_early()
    assert server.first_closed.wait(10)
    assert backend.complete(MESSAGES) == "answered anew"
    server.thread.join(10)
    assert len(server.requests) == 1 and json.loads(server.requests[0])["model"] == "m"
    server.listener.close()


def test_an_early_connection_that_fails_leaves_the_error_to_the_request() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there
    backend = Backend(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_ms=2000, token=None, retries=0
    )
    backend.connect_early()  # no error yet: the request reports it
    with pytest.raises(BackendError, match=r"\(connection refused\)"):
        backend.complete(MESSAGES)
