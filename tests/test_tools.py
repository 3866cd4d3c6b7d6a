"""Tests of the agent's tools on real files, real processes and real HTTP on loopback."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from scoot.shared.actions import parse_input
from tests import unprivileged
from worker.tools import ToolError, run_tool, scrubbed_environment

ROOT = Path(__file__).resolve().parent.parent


def tool(action: str, action_input: object, cwd: Path, **options: object) -> str:
    if not isinstance(action_input, str):
        action_input = json.dumps(action_input)
    options.setdefault("timeout_s", 10.0)
    return run_tool(parse_input(action, action_input), cwd=str(cwd), **options)  # type: ignore[arg-type]


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- bash ---------------------------------------------------------------------


def test_bash_merges_output_and_reports_the_exit_code(tmp_path: Path) -> None:
    output = tool("bash", "echo out; echo err >&2; exit 3", tmp_path)
    assert output == "out\nerr\n[exit code 3]"


def test_bash_runs_in_cwd_with_stdin_closed(tmp_path: Path) -> None:
    started = time.monotonic()
    output = tool("bash", "pwd; cat; echo after", tmp_path)
    assert output == f"{os.path.realpath(tmp_path)}\nafter\n[exit code 0]"
    assert time.monotonic() - started < 15  # cat did not wait for input


def test_bash_reports_a_killing_signal(tmp_path: Path) -> None:
    assert tool("bash", "kill -TERM $$", tmp_path) == "[killed by signal SIGTERM]"


def test_bash_runs_in_a_new_session(tmp_path: Path) -> None:
    output = tool("bash", "ps -o sid= -p $$; echo $$", tmp_path)
    session, pid = output.split("\n")[:2]
    assert session.strip() == pid.strip()
    assert int(pid) != os.getsid(0)


@pytest.mark.timeout(20)
def test_bash_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    output = tool("bash", "echo $$ > pgid; sleep 30 & sleep 30", tmp_path, timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert output.endswith("[timed out after 0.5s (process group killed)]")
    assert elapsed < 15  # far below the 30 s sleeps: killed, not waited for
    pgid = int((tmp_path / "pgid").read_text())
    # SIGKILL is delivered at once but a process takes a moment to die.
    deadline = time.monotonic() + 2
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert group_members(pgid) == []


def test_bash_timeout_keeps_partial_output(tmp_path: Path) -> None:
    output = tool("bash", "echo first; sleep 30", tmp_path, timeout_s=0.5)
    assert output.startswith("first\n")
    assert "timed out after 0.5s" in output


def test_bash_background_processes_do_not_outlive_the_command(tmp_path: Path) -> None:
    started = time.monotonic()
    output = tool("bash", "sleep 30 & echo $!", tmp_path)
    assert time.monotonic() - started < 15  # far below the 30 s sleep
    background_pid = int(output.split("\n")[0])
    deadline = time.monotonic() + 10
    while not gone(background_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(background_pid)


def test_bash_command_that_closes_its_output_still_times_out(tmp_path: Path) -> None:
    output = tool("bash", "exec >&- 2>&-; sleep 30", tmp_path, timeout_s=0.5)
    assert output == "[timed out after 0.5s (process group killed)]"


def test_bash_output_is_capped_without_blocking_the_command(tmp_path: Path) -> None:
    started = time.monotonic()
    command = "head -c 10000000 /dev/zero | tr '\\0' a; echo done >&2"
    output = tool("bash", command, tmp_path, max_output_bytes=1000)
    assert time.monotonic() - started < 20
    assert output.startswith("a" * 1000 + "\n[output truncated: ")
    assert "more bytes not shown]" in output
    assert output.endswith("[exit code 0]")
    assert len(output) < 1200


def test_bash_environment_has_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "t1")
    monkeypatch.setenv("DB_PASSWORD", "p1")
    monkeypatch.setenv("Aws_Secret_Access", "s1")
    monkeypatch.setenv("PRIVATE_KEY_FILE", "k1")
    monkeypatch.setenv("OPENAI_CUSTOM", "o1")
    monkeypatch.setenv("HARMLESS_SETTING", "h1")
    output = tool("bash", "env", tmp_path, scrub_env=["OPENAI_CUSTOM"])
    for value in ("t1", "p1", "s1", "k1", "o1"):
        assert f"={value}\n" not in output
    assert "HARMLESS_SETTING=h1\n" in output
    assert "PATH=" in output


def test_scrubbed_environment() -> None:
    environ = {"PATH": "/bin", "GITHUB_TOKEN": "x", "api_key": "y", "CUSTOM": "z", "HOME": "/h"}
    assert scrubbed_environment(environ, ["custom"]) == {"PATH": "/bin", "HOME": "/h"}


def test_bash_in_a_missing_directory_is_a_tool_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="cannot start /bin/sh"):
        tool("bash", "ls", tmp_path / "missing")


# --- file_read ------------------------------------------------------------------


@pytest.fixture
def lines_file(tmp_path: Path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {n}\n" for n in range(1, 11)))
    return path


def test_file_read_whole_file(tmp_path: Path, lines_file: Path) -> None:
    assert tool("file_read", "lines.txt", tmp_path) == lines_file.read_text()


def test_file_read_line_window(tmp_path: Path, lines_file: Path) -> None:
    output = tool("file_read", {"path": "lines.txt", "start": 3, "end": 4}, tmp_path)
    assert output == "[lines.txt lines 3-4]\nline 3\nline 4\n"
    tail = tool("file_read", {"path": "lines.txt", "start": 9}, tmp_path)
    assert tail == "[lines.txt lines 9-10]\nline 9\nline 10\n"
    head = tool("file_read", {"path": "lines.txt", "end": 1}, tmp_path)
    assert head == "[lines.txt lines 1-1]\nline 1\n"


def test_file_read_start_past_the_end(tmp_path: Path, lines_file: Path) -> None:
    with pytest.raises(ToolError, match="lines.txt has only 10 lines; start 11 is past its end"):
        tool("file_read", {"path": "lines.txt", "start": 11}, tmp_path)


def test_file_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="^file not found: notes.txt$"):
        tool("file_read", "notes.txt", tmp_path)


def test_file_read_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(ToolError, match="sub is a directory; use glob"):
        tool("file_read", "sub", tmp_path)


def test_file_read_binary_file(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"PK\x03\x04\x00\x00data")
    with pytest.raises(ToolError, match="blob.bin looks like a binary file"):
        tool("file_read", "blob.bin", tmp_path)


def test_file_read_huge_file_is_truncated(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 200_000)
    output = tool("file_read", "big.txt", tmp_path, max_output_bytes=1000)
    assert output.startswith("x" * 1000 + "\n[truncated: showed the first 1000 of 200000 bytes")


def test_file_read_window_stops_at_the_byte_cap(tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_text("".join(f"{n:04d}{'y' * 95}\n" for n in range(100)))
    output = tool("file_read", {"path": "wide.txt", "start": 1}, tmp_path, max_output_bytes=350)
    assert output.startswith("[wide.txt lines 1-3] [stopped after 350 bytes; continue from line 4]")


def test_file_read_permission_denied(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        locked = tmp_path / "locked.txt"
        locked.write_text("x")
        locked.chmod(0)
        with pytest.raises(ToolError, match="permission denied: locked.txt"):
            tool("file_read", "locked.txt", tmp_path)
        return
    # Root reads any file: the tool runs as the unprivileged user, in a process of its own.
    user = unprivileged.require_user()
    base = unprivileged.owned_dir(user)
    try:
        locked = base / "locked.txt"
        locked.write_text("x")
        os.chown(locked, user.uid, user.gid)
        locked.chmod(0)
        probe = (
            "import sys; from pathlib import Path; from worker.tools import ToolError, run_tool\n"
            "from tests.test_tools import tool\n"
            "try:\n    tool('file_read', 'locked.txt', Path(sys.argv[1]))\n"
            "except ToolError as exc:\n    print(exc)\n"
        )
        done = unprivileged.run_as(
            user,
            [sys.executable, "-c", probe, str(base)],
            env={**unprivileged.env_for(user, base / "home"), "PYTHONPATH": str(ROOT)},
            cwd=base,
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert "permission denied: locked.txt" in done.stdout, done.stdout + done.stderr


# --- file_write and file_edit -------------------------------------------------


def test_file_write_creates_and_reports_bytes(tmp_path: Path) -> None:
    output = tool("file_write", {"path": "out.txt", "content": "héllo\n"}, tmp_path)
    assert output == "wrote 7 bytes to out.txt"
    assert (tmp_path / "out.txt").read_text() == "héllo\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_file_write_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    tool("file_write", {"path": "run.sh", "content": "new"}, tmp_path)
    assert script.read_text() == "new"
    assert script.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]


def test_file_write_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="directory does not exist: missing"):
        tool("file_write", {"path": "missing/out.txt", "content": "x"}, tmp_path)
    assert not (tmp_path / "missing").exists()


def test_file_write_onto_a_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(ToolError, match="sub is a directory"):
        tool("file_write", {"path": "sub", "content": "x"}, tmp_path)


def test_file_edit_replaces_the_one_occurrence(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("a = 1\nb = 2\n")
    output = tool("file_edit", {"path": "x.py", "old": "b = 2", "new": "b = 3"}, tmp_path)
    assert output.startswith("edited x.py: replaced 1 occurrence")
    assert (tmp_path / "x.py").read_text() == "a = 1\nb = 3\n"


def test_file_edit_text_not_found(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("a = 1\n")
    with pytest.raises(
        ToolError, match="old text found 0 times in x.py; it must match exactly once"
    ):
        tool("file_edit", {"path": "x.py", "old": "zzz", "new": "y"}, tmp_path)


def test_file_edit_text_found_twice(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("a = 1\na = 1\n")
    with pytest.raises(ToolError, match="old text found 2 times in x.py"):
        tool("file_edit", {"path": "x.py", "old": "a = 1", "new": "a = 2"}, tmp_path)
    assert (tmp_path / "x.py").read_text() == "a = 1\na = 1\n"


def test_file_edit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="^file not found: x.py$"):
        tool("file_edit", {"path": "x.py", "old": "a", "new": "b"}, tmp_path)


def test_file_edit_refuses_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ToolError, match="latin.txt is not UTF-8 text"):
        tool("file_edit", {"path": "latin.txt", "old": "caf", "new": "bar"}, tmp_path)


# --- grep -----------------------------------------------------------------------


def test_grep_numbers_matching_lines(tmp_path: Path, lines_file: Path) -> None:
    output = tool("grep", {"pattern": r"line [37]$", "path": "lines.txt"}, tmp_path)
    assert output == "3: line 3\n7: line 7"


def test_grep_context_lines_and_separators(tmp_path: Path, lines_file: Path) -> None:
    output = tool(
        "grep", {"pattern": r"line (2|3|8)$", "path": "lines.txt", "context": 1}, tmp_path
    )
    assert output.split("\n") == [
        "1- line 1",
        "2: line 2",
        "3: line 3",
        "4- line 4",
        "--",
        "7- line 7",
        "8: line 8",
        "9- line 9",
    ]


def test_grep_bad_regex(tmp_path: Path, lines_file: Path) -> None:
    with pytest.raises(ToolError, match=r"bad regex '\(unclosed': missing \), unterminated"):
        tool("grep", {"pattern": "(unclosed", "path": "lines.txt"}, tmp_path)


def test_grep_no_match(tmp_path: Path, lines_file: Path) -> None:
    output = tool("grep", {"pattern": "nothing", "path": "lines.txt"}, tmp_path)
    assert output == "no matches for 'nothing' in lines.txt"


def test_grep_bounds_the_matches(tmp_path: Path) -> None:
    (tmp_path / "many.txt").write_text("hit\n" * 250)
    output = tool("grep", {"pattern": "hit", "path": "many.txt"}, tmp_path)
    lines = output.split("\n")
    assert len(lines) == 201
    assert lines[199] == "200: hit"
    assert lines[200] == "[50 more matches not shown]"


def test_grep_errors_on_directories_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(ToolError, match="sub is a directory"):
        tool("grep", {"pattern": "x", "path": "sub"}, tmp_path)
    with pytest.raises(ToolError, match="^file not found: nope.txt$"):
        tool("grep", {"pattern": "x", "path": "nope.txt"}, tmp_path)


# --- glob -----------------------------------------------------------------------


def test_glob_recursive_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    for name in ("src/b.py", "src/a.py", "src/pkg/c.py", "src/notes.md"):
        (tmp_path / name).write_text("")
    output = tool("glob", "src/**/*.py", tmp_path)
    assert output == "src/a.py\nsrc/b.py\nsrc/pkg/c.py"
    assert tool("glob", "src/*", tmp_path) == "src/a.py\nsrc/b.py\nsrc/notes.md\nsrc/pkg/"


def test_glob_bounds_the_count(tmp_path: Path) -> None:
    for number in range(520):
        (tmp_path / f"f{number:03d}.txt").write_text("")
    lines = tool("glob", "*.txt", tmp_path).split("\n")
    assert len(lines) == 501
    assert lines[0] == "f000.txt"
    assert lines[-1] == "[20 more not shown]"


def test_glob_never_lists_outside_cwd(tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    outside = tmp_path / "outside"
    cwd.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("")
    (cwd / "mine.txt").write_text("")
    (cwd / "escape").symlink_to(outside)
    assert tool("glob", "**/*.txt", cwd) == "mine.txt"
    assert tool("glob", "escape/*", cwd) == "no files match 'escape/*'"
    with pytest.raises(ToolError, match="relative to the working directory"):
        tool("glob", "/etc/*", cwd)
    with pytest.raises(ToolError, match="must not leave the working directory"):
        tool("glob", "../*", cwd)


def test_glob_no_match(tmp_path: Path) -> None:
    assert tool("glob", "*.nothing", tmp_path) == "no files match '*.nothing'"


# --- http_request -------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server names
        if self.path == "/big":
            self.reply(200, b"z" * 100_000, "text/plain")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/x")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/missing":
            self.reply(404, b"no such page", "text/plain")
        elif self.path == "/binary":
            self.reply(200, b"\x00\x01\x02", "application/octet-stream")
        else:
            self.reply(200, b"hello there", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "11")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        echoed = {"method": self.command, "body": body.decode(), "x": self.headers.get("X-Test")}
        self.reply(201, json.dumps(echoed).encode(), "application/json")

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def fetch(action_input: object, cwd: Path, **options: object) -> str:
    options.setdefault("block_internal_http", False)
    return tool("http_request", action_input, cwd, **options)


def test_http_get(server: str, tmp_path: Path) -> None:
    output = fetch(f"{server}/hello", tmp_path)
    assert output.startswith("HTTP 200 OK\ncontent-type: text/plain; charset=utf-8\n")
    assert "content-length: 11" in output
    assert output.endswith("\n\nhello there")


def test_http_head(server: str, tmp_path: Path) -> None:
    output = fetch({"method": "HEAD", "url": f"{server}/"}, tmp_path)
    assert output == "HTTP 200 OK\ncontent-type: text/plain\ncontent-length: 11"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_http_methods_send_body_and_headers(server: str, tmp_path: Path, method: str) -> None:
    request = {"method": method, "url": f"{server}/", "body": "payload", "headers": {"X-Test": "1"}}
    output = fetch(request, tmp_path)
    assert output.startswith("HTTP 201 Created\n")
    echoed = json.loads(output.split("\n\n", 1)[1])
    assert echoed == {"method": method, "body": "payload", "x": "1"}


def test_http_error_status_is_an_observation(server: str, tmp_path: Path) -> None:
    output = fetch(f"{server}/missing", tmp_path)
    assert output.startswith("HTTP 404 Not Found\n")
    assert output.endswith("no such page")


def test_http_follows_redirects(server: str, tmp_path: Path) -> None:
    assert fetch(f"{server}/redirect", tmp_path).endswith("hello there")


def test_http_does_not_follow_redirects_to_other_schemes(server: str, tmp_path: Path) -> None:
    # urllib itself stops at file:, reporting the redirect; ftp: is stopped by the tool.
    output = fetch(f"{server}/to-file", tmp_path)
    assert output.startswith("HTTP 302 Found - Redirection to url")
    assert "location: file:///etc/passwd" in output
    assert "root:" not in output
    with pytest.raises(ToolError, match="refused redirect to a non-http URL: ftp://"):
        fetch(f"{server}/to-ftp", tmp_path)


def test_http_body_is_bounded(server: str, tmp_path: Path) -> None:
    output = fetch(f"{server}/big", tmp_path, max_output_bytes=500)
    body = output.split("\n\n", 1)[1]
    assert body == "z" * 500 + "\n[body truncated after 500 bytes]"


def test_http_binary_body_is_not_shown(server: str, tmp_path: Path) -> None:
    assert fetch(f"{server}/binary", tmp_path).endswith("[binary body, 3 bytes not shown]")


def test_http_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ToolError, match=f"GET http://127.0.0.1:{port}/ failed: .*refused"):
        fetch(f"http://127.0.0.1:{port}/", tmp_path)


def test_http_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ToolError, match="timed out"):
            fetch(f"http://127.0.0.1:{port}/", tmp_path, timeout_s=0.5)
        assert time.monotonic() - started < 15  # the silent server never answers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433"])
def test_http_blocks_internal_addresses_at_connect(server: str, tmp_path: Path, host: str) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(ToolError, match="refused: .* resolves to internal address"):
        fetch(f"http://{host}:{port}/hello", tmp_path, block_internal_http=True)


def test_http_unresolvable_host(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="cannot resolve host no-such-host.invalid"):
        fetch("http://no-such-host.invalid/", tmp_path, block_internal_http=True)


# --- final and clipping -------------------------------------------------------


def test_final_returns_the_answer(tmp_path: Path) -> None:
    assert tool("final", "all done", tmp_path) == "all done"
