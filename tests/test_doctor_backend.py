"""`doctor` contacts the backend as a run would: reachability, the token, latency, a timeout."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, write_config

JOB = {"id": "check", "goal": "g", "every_sec": 3600}
TOKEN = "doctor-test-token-0123456789"


def backend_checks(out: str) -> list[dict[str, str]]:
    return [c for c in json.loads(out)["checks"] if c["name"] == "backend"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


def test_reachable_backend_with_the_right_token_is_ok(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"require_token": TOKEN, "default": [{"final": "x"}]}) as model:
        write_config(home, base_url=model.base_url, jobs=[JOB])
        done = run_scoot(home, "doctor", OPENAI_API_KEY=TOKEN)
        seen = model.requests
        url = model.base_url
    assert done.returncode == 0, done.stdout
    line = next(x for x in done.stdout.splitlines() if x.startswith("OK    backend:"))
    assert f"{url}/models answered in " in line and " ms, token accepted" in line
    assert [(r.method, r.authorization_correct) for r in seen] == [("GET", True)]
    assert TOKEN not in done.stdout + done.stderr


def test_a_wrong_token_fails_doctor_when_a_job_uses_the_backend(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"require_token": TOKEN, "default": [{"final": "x"}]}) as model:
        write_config(home, base_url=model.base_url, jobs=[JOB])
        wrong = run_scoot(home, "doctor", "--json", OPENAI_API_KEY="not-the-token-at-all")
        missing = run_scoot(home, "doctor")
    assert wrong.returncode == 1
    (check,) = backend_checks(wrong.stdout)
    assert check["status"] == "fail"
    assert "rejected the API key (HTTP 401)" in check["detail"]
    assert "not-the-token-at-all" not in wrong.stdout
    assert missing.returncode == 1
    assert "requires an API key (HTTP 401) and none was given" in missing.stdout
    assert missing.stdout.rstrip().endswith("doctor: FAILED (1 failures, 2 warnings)")


def test_nothing_listening_fails_with_a_job_and_warns_without(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = f"http://127.0.0.1:{closed_port()}/v1"
    write_config(home, base_url=url, jobs=[JOB])
    with_job = run_scoot(home, "doctor", "--json")
    assert with_job.returncode == 1
    (check,) = backend_checks(with_job.stdout)
    assert check["status"] == "fail" and "cannot reach" in check["detail"]
    assert "Connection refused" in check["detail"]
    write_config(home, base_url=url)
    without = run_scoot(home, "doctor", "--json")
    assert without.returncode == 0
    (check,) = backend_checks(without.stdout)
    assert check["status"] == "warn" and "no scheduled job uses it yet" in check["detail"]


def test_offline_contacts_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "x"}]}) as model:
        write_config(home, base_url=model.base_url, jobs=[JOB])
        done = run_scoot(home, "doctor", "--offline")
        assert model.requests == []
    assert done.returncode == 0
    assert "WARN  backend: " in done.stdout and "not contacted (--offline)" in done.stdout


def test_a_server_without_models_gets_one_minimal_request(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {"serve_models": False, "require_token": TOKEN, "default": [{"final": "ok"}]}
    with ScriptedModel(script) as model:
        write_config(home, base_url=model.base_url, jobs=[JOB])
        good = run_scoot(home, "doctor", OPENAI_API_KEY=TOKEN)
        bad = run_scoot(home, "doctor", OPENAI_API_KEY="wrong-token-wrong-token")
        paths = [(r.method, r.path) for r in model.requests]
    assert good.returncode == 0, good.stdout
    assert "/chat/completions answered a minimal request in " in good.stdout
    assert bad.returncode == 1 and "rejected the API key" in bad.stdout
    assert paths[:2] == [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]


def test_a_silent_server_cannot_hang_doctor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        write_config(home, base_url=f"http://127.0.0.1:{port}/v1", jobs=[JOB])
        started = time.monotonic()
        done = run_scoot(home, "doctor", "--backend-timeout", "0.5", timeout=60)
        took = time.monotonic() - started
    assert done.returncode == 1
    assert "no answer from" in done.stdout and "within 0.5 s" in done.stdout
    assert took < 45  # bounded by the timeout, not by the server


def test_a_fresh_home_with_only_a_config_is_not_a_failure(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text('[backend]\nmodel = "scripted"\n')
    done = run_scoot(home, "doctor", "--offline")
    assert done.returncode == 0, done.stdout
    assert "FAIL" not in done.stdout
    assert not (home / "logs").exists()  # doctor looked; it created nothing
