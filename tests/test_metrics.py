"""[metrics]: /metrics scraped from a real daemon, the text file, and scrapers that hang."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, runs, start_scoot, stop, wait_for, write_config


@pytest.fixture
def model():
    with ScriptedModel(
        {
            "rules": [{"match": "slow", "steps": [{"final": "slow done", "delay_ms": 1500}]}],
            "default": [{"final": "ok"}],
        }
    ) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict[str, list], sample_name: str, **labels: str) -> float | None:
    for family in families.values():
        for sample in family:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return sample.value
    return None


def total(families: dict[str, list], sample_name: str) -> float:
    return sum(s.value for fam in families.values() for s in fam if s.name == sample_name)


def wait_serving(proc: subprocess.Popen[str], port: int) -> dict[str, list]:
    def ready() -> dict[str, list] | None:
        assert proc.poll() is None, proc.communicate()
        try:
            return scrape(port)
        except OSError:
            return None

    return wait_for(ready, timeout=20)


def test_scrape_counts_equal_the_run_records_and_survive_a_restart(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    port = free_port()
    jobs = [{"id": f"j{i}", "goal": "quick", "every_sec": 3600} for i in range(3)]
    write_config(
        home,
        base_url=model.base_url,
        jobs=jobs,
        sections={"metrics": {"listen": f"127.0.0.1:{port}"}},
    )
    proc = start_scoot(home, "daemon", "run")
    try:
        wait_serving(proc, port)
        wait_for(lambda: len(runs(home)) == 3, timeout=30)
        families = wait_for(
            lambda: (f := scrape(port)) and total(f, "scoot_runs_total") == 3 and f, timeout=10
        )
        rows = runs(home)
        for row in rows:
            assert value(families, "scoot_runs_total", job=row["job_id"], status=row["status"]) == 1
        assert value(families, "scoot_up") == 1
        assert value(families, "scoot_jobs", state="active") == 3
        assert value(families, "scoot_runs_in_flight") == 0
        assert value(families, "scoot_runs_queued") == 0
        # Histograms: a bucket per bound, +Inf equal to the count, one observation per run.
        for job in ("j0", "j1", "j2"):
            assert value(families, "scoot_run_duration_seconds_count", job=job) == 1
            assert value(families, "scoot_run_duration_seconds_bucket", job=job, le="+Inf") == 1
        assert value(families, "scoot_fire_lateness_seconds_count") == 3
        for row in rows:
            job = row["job_id"]
            assert value(families, "scoot_last_run_timestamp_seconds", job=job) == pytest.approx(
                row["ended_at"]
            )
            assert value(
                families, "scoot_last_success_timestamp_seconds", job=job
            ) == pytest.approx(row["ended_at"])
            assert (
                value(families, "scoot_next_fire_timestamp_seconds", job=job) > time.time() + 3000
            )
        assert value(families, "scoot_build_info", version="0.1.0") == 1
    finally:
        out, err = stop(proc)
    assert "Traceback" not in err
    assert f"serving metrics on http://127.0.0.1:{port}/metrics" in out

    # A restart reads the counters back from runs.jsonl: no reset to zero.
    again = start_scoot(home, "daemon", "run")
    try:
        families = wait_serving(again, port)
        assert total(families, "scoot_runs_total") == 3 == len(runs(home))
        assert value(families, "scoot_run_duration_seconds_count", job="j0") == 1
    finally:
        stop(again)


def test_hanging_scrapers_never_delay_a_fire(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    port = free_port()
    write_config(
        home,
        base_url=model.base_url,
        jobs=[{"id": "tick", "goal": "quick", "every_sec": 1}],
        sections={"metrics": {"listen": f"127.0.0.1:{port}"}},
    )
    proc = start_scoot(home, "daemon", "run")
    hanging: list[socket.socket] = []
    try:
        wait_serving(proc, port)
        # Clients that connect and never send, one that sends half a request, one that
        # asks and never reads, and more connections than the server keeps.
        for _ in range(24):
            hanging.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        hanging[0].sendall(b"GET /metr")
        hanging[1].sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        hang_start = time.time()
        time.sleep(4.5)
        during = [r for r in runs(home) if r["started_at"] >= hang_start]
        assert len(during) >= 3, during  # fires went on while every client hung
        for row in during:
            assert row["status"] == "ok"
            assert row["started_at"] - row["instant"] < 1.0, row  # not held up by a scraper
        # Past their deadline the hanging connections are closed, and scrapes work again.
        families = wait_for(lambda: _try_scrape(port), timeout=15)
        assert total(families, "scoot_runs_total") >= len(during)
    finally:
        for sock in hanging:
            sock.close()
        out, err = stop(proc)
    assert "Traceback" not in err


def _try_scrape(port: int) -> dict[str, list] | None:
    try:
        return scrape(port)
    except OSError:
        return None


def test_other_paths_and_methods_get_one_line_answers(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    port = free_port()
    write_config(
        home,
        base_url=model.base_url,
        jobs=[{"id": "a", "goal": "quick", "every_sec": 3600}],
        sections={"metrics": {"listen": f"127.0.0.1:{port}"}},
    )
    proc = start_scoot(home, "daemon", "run")
    try:
        wait_serving(proc, port)
        for request, code in (
            (b"GET / HTTP/1.0\r\n\r\n", b"404"),
            (b"POST /metrics HTTP/1.0\r\n\r\n", b"405"),
            (b"garbage\r\n\r\n", b"400"),
            (b"GET /" + b"x" * 8995, b"431"),  # 9000 bytes: all read, no reset
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request)
                reply = b""
                while chunk := sock.recv(4096):
                    reply += chunk
            assert reply.split(b" ", 2)[1] == code, reply
        assert proc.poll() is None
    finally:
        stop(proc)


def test_textfile_after_one_tick_parses(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    prom = tmp_path / "textfile" / "scoot.prom"
    prom.parent.mkdir()
    write_config(
        home,
        base_url=model.base_url,
        jobs=[
            {"id": "a", "goal": "quick", "every_sec": 3600},
            {"id": "b", "goal": "quick", "every_sec": 3600},
        ],
        sections={"metrics": {"textfile": str(prom)}},
    )
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    text = prom.read_text()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert total(families, "scoot_runs_total") == len(runs(home)) == 2
    assert value(families, "scoot_up") == 0  # written as the loop ended
    assert value(families, "scoot_run_duration_seconds_count", job="a") == 1
    assert value(families, "scoot_next_fire_timestamp_seconds", job="a") is not None
    assert not [p for p in prom.parent.iterdir() if p.name != "scoot.prom"]  # no temp file left
    assert oct(prom.stat().st_mode & 0o777) == "0o644"  # node_exporter may run as another user

    # A second run adds to the counts from the records.
    assert run_scoot(home, "schedule", "trigger", "a").returncode == 0
    run_scoot(home, "schedule", "run", "--ticks", "1")
    families = {f.name: f.samples for f in text_string_to_metric_families(prom.read_text())}
    assert total(families, "scoot_runs_total") == len(runs(home)) == 3
    assert value(families, "scoot_runs_total", job="a", status="ok") == 2


def test_a_port_in_use_is_one_clear_line(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        write_config(
            home,
            base_url=model.base_url,
            jobs=[{"id": "a", "goal": "quick", "every_sec": 3600}],
            sections={"metrics": {"listen": f"127.0.0.1:{port}"}},
        )
        for command in (("daemon", "run"), ("schedule", "run", "--ticks", "1")):
            done = run_scoot(home, *command)
            assert done.returncode == 1, done
            lines = [line for line in done.stderr.splitlines() if "metrics" in line]
            assert len(lines) == 1 and f"cannot serve metrics on 127.0.0.1:{port}" in lines[0]
            assert "pick another [metrics] listen port" in lines[0]
            assert "Traceback" not in done.stderr
    assert runs(home) == []  # nothing ran


@pytest.mark.parametrize("listen", ["9464", "localhost", "127.0.0.1:99999", ":9464"])
def test_a_malformed_listen_address_is_a_config_error(tmp_path: Path, model, listen: str) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        base_url=model.base_url,
        jobs=[{"id": "a", "goal": "quick", "every_sec": 3600}],
        sections={"metrics": {"listen": listen}},
    )
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 2, done
    assert "[metrics] listen must be host:port" in done.stderr
    assert "Traceback" not in done.stderr


def _serve_until(server, selector, done, timeout: float = 10) -> None:
    """Drive the server as the loop does: select with its deadline, then expire."""
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        deadline = server.next_deadline()
        wait = 0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic()))
        for key, mask in selector.select(wait):
            key.data(mask)
        server.expire()


def test_a_scrape_waits_while_a_fire_is_due_then_is_served() -> None:
    import selectors
    import threading

    from scoot.observe.metrics_http import MetricsServer

    fire_due = threading.Event()
    fire_due.set()
    renders: list[float] = []

    def render() -> bytes:
        renders.append(time.monotonic())
        return b"scoot_up 1.0\n"

    server = MetricsServer("127.0.0.1", 0, render, may_render=lambda _cost: not fire_due.is_set())
    selector = selectors.DefaultSelector()
    server.attach(selector)
    port = server.address[1]
    replies: list[bytes] = []

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
            replies.append(reply)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        _serve_until(server, selector, lambda: False, timeout=0.5)
        assert renders == [] and replies == []  # parked: nothing rendered while a fire is due
        fire_due.clear()  # the fire happened
        _serve_until(server, selector, lambda: bool(replies))
    finally:
        thread.join(timeout=10)
        server.close()
        selector.close()
    assert len(renders) == 1
    assert replies[0].startswith(b"HTTP/1.0 200 OK") and replies[0].endswith(b"scoot_up 1.0\n")


def test_a_scrape_is_served_after_two_seconds_even_if_fires_keep_coming() -> None:
    import selectors
    import threading

    from scoot.observe.metrics_http import MAX_DEFER_SEC, MetricsServer

    server = MetricsServer("127.0.0.1", 0, lambda: b"scoot_up 1.0\n", may_render=lambda _c: False)
    selector = selectors.DefaultSelector()
    server.attach(selector)
    port = server.address[1]
    replies: list[tuple[float, bytes]] = []

    def client() -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
            replies.append((time.monotonic() - started, reply))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        _serve_until(server, selector, lambda: bool(replies))
    finally:
        thread.join(timeout=10)
        server.close()
        selector.close()
    waited, reply = replies[0]
    assert reply.startswith(b"HTTP/1.0 200 OK")
    assert waited >= MAX_DEFER_SEC * 0.9  # it was held for the deferral, not starved


def test_commands_without_metrics_never_import_prometheus_client(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "quick", "every_sec": 3600}])
    for args in (("schedule", "list"), ("daemon", "status"), ("schedule", "history")):
        done = run_scoot(home, *args, PYTHONPROFILEIMPORTTIME="1")
        assert "scoot" in done.stderr  # the import log is there
        assert "prometheus_client" not in done.stderr, args
    # With [metrics] configured, the loop imports it.
    write_config(
        home,
        jobs=[{"id": "a", "goal": "quick", "every_sec": 3600}],
        sections={"metrics": {"textfile": str(tmp_path / "scoot.prom")}},
    )
    done = run_scoot(home, "schedule", "run", "--ticks", "1", PYTHONPROFILEIMPORTTIME="1")
    assert "prometheus_client" in done.stderr


def test_a_daemon_rewrites_the_text_file_at_run_boundaries_and_follows_a_reload(
    tmp_path: Path, model
) -> None:
    import signal

    home = tmp_path / "home"
    prom = tmp_path / "scoot.prom"
    port = free_port()
    sections = {"metrics": {"listen": f"127.0.0.1:{port}", "textfile": str(prom)}}
    write_config(
        home,
        base_url=model.base_url,
        jobs=[{"id": "tick", "goal": "quick", "every_sec": 1}],
        sections=sections,
    )
    proc = start_scoot(home, "daemon", "run")
    try:
        wait_serving(proc, port)

        def file_counts() -> dict[str, list] | None:
            try:
                text = prom.read_text()
            except FileNotFoundError:
                return None
            families = {f.name: f.samples for f in text_string_to_metric_families(text)}
            return families if total(families, "scoot_runs_total") >= 3 else None

        families = wait_for(file_counts, timeout=30)
        assert value(families, "scoot_up") == 1  # written by the running loop
        assert value(families, "scoot_jobs", state="active") == 1

        # SIGHUP with one more job: the next scrape shows it.
        write_config(
            home,
            base_url=model.base_url,
            jobs=[
                {"id": "tick", "goal": "quick", "every_sec": 1},
                {"id": "hourly", "goal": "quick", "every_sec": 3600},
            ],
            sections=sections,
        )
        proc.send_signal(signal.SIGHUP)
        scraped = wait_for(
            lambda: (f := scrape(port)) and value(f, "scoot_jobs", state="active") == 2 and f,
            timeout=20,
        )
        assert value(scraped, "scoot_next_fire_timestamp_seconds", job="hourly") is not None
    finally:
        out, err = stop(proc)
    assert "Traceback" not in err
    final = {f.name: f.samples for f in text_string_to_metric_families(prom.read_text())}
    assert value(final, "scoot_up") == 0  # the stopped daemon's last word
    assert total(final, "scoot_runs_total") == len(runs(home))
