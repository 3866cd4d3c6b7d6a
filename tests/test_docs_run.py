"""Every shell block in README.md and docs/ runs as written and prints what its page shows.

Rules for writing README.md and docs/*.md (this runner enforces them):

- Every fence names its language (not ```console: commands and output go apart).
  ```sh, ```bash and ```shell blocks are RUN; ```text is output; ```toml, ```json,
  ```python... are shown, never run, but every ```toml and ```json block must parse, and
  a ```toml block must be a config scoot loads without a warning or an invalid job.
- The run blocks of one page run in page order, each by its own `bash -e -o pipefail`, all
  in one fresh directory as cwd (so files carry over, shell variables do not), with HOME a
  fresh empty user home, no SCOOT_* variable and no OPENAI_API_KEY, and the `scoot` and
  `python` of the test environment first on PATH. A block passes when bash exits 0.
- The model: pages use `http://127.0.0.1:11434/v1` (Ollama's default, as a reader has it).
  The runner serves the scripted model there, answering every goal with the final answer
  `done`; when that port is taken, it serves on a free port and rewrites the address in
  the blocks, and back in their output.
- Comment lines immediately above a fence change how it runs:
    `<!-- not-run: <why> -->`  the block is not run (sudo, systemctl, kubectl, a real
                               host, a long install). Its `scoot` commands are still parsed
                               by tests/test_docs.py, and the repository files any shell
                               block names (deploy/..., bench/...) must exist.
    `<!-- exit: N -->`         the block is expected to end with exit status N (set -e stops
                               it at the first failing command, so that is its status).
- A ```text block that follows a run block with nothing but blank lines between them is
  that block's expected output (stdout and stderr together). After the output's paths are
  shortened (the page's directory to `.`, the user home to `~`), each line of the text
  block must equal one output line, in order, trailing blanks ignored, and no output line
  may be left over, except that `...` inside a line matches any characters and a line
  that is only `...` matches any number of lines (none too).
- No block may print a Python traceback, whatever its exit status.
- Long-running commands must be bounded by the page itself (`--ticks N`, or `&` and a
  later `daemon stop`); every block has PER_BLOCK_TIMEOUT seconds. Processes a page left
  running are killed when the page ends.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from scoot.testing.model_server import ScriptedModel

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = {"sh", "bash", "shell"}
DOCS_ADDRESS = "127.0.0.1:11434"
MODEL_SCRIPT = {"default": [{"final": "done"}]}
PER_BLOCK_TIMEOUT = 20.0
PAGE_TIMEOUT = 50

OPEN_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[^\s`]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<name>[a-z-]+)\s*:\s*(?P<value>.*?)\s*-->\s*$")
KNOWN_MARKERS = {"not-run", "exit"}


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    body: str
    markers: dict[str, str] = field(default_factory=dict)
    output: Block | None = None  # the ```text block right after it

    @property
    def where(self) -> str:
        return f"{shown_path(self.page)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and "not-run" not in self.markers


def shown_path(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


class PageError(ValueError):
    """A page breaks the rules above; the message names the place."""


def parse_page(path: Path) -> list[Block]:
    """The fenced blocks of a page with their markers, and each run block's output block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = OPEN_FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        start, indent = index, len(opening["indent"])
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        if index == len(lines):
            raise PageError(f"{shown_path(path)}:{start + 1}: this fence is never closed")
        index += 1
        block = Block(path, start + 1, opening["language"], "\n".join(body) + "\n")
        block.markers = markers_above(path, lines, start)
        previous = blocks[-1] if blocks else None
        if (
            previous is not None
            and block.language == "text"
            and previous.language in RUN_LANGUAGES
            and not block.markers
            and all(not line.strip() for line in lines[previous_end(lines, previous) : start])
        ):
            previous.output = block
        blocks.append(block)
    return blocks


def previous_end(lines: list[str], block: Block) -> int:
    """The index of the line after the closing fence of `block`."""
    index = block.line  # the line after the opening fence, 0-based
    while lines[index].strip() != "```":
        index += 1
    return index + 1


def markers_above(path: Path, lines: list[str], fence: int) -> dict[str, str]:
    found: dict[str, str] = {}
    index = fence - 1
    while index >= 0 and (marker := MARKER.match(lines[index])):
        name, value = marker["name"], marker["value"]
        where = f"{shown_path(path)}:{index + 1}"
        if name not in KNOWN_MARKERS:
            raise PageError(f"{where}: unknown marker {name!r} (known: {sorted(KNOWN_MARKERS)})")
        if not value:
            raise PageError(f"{where}: marker {name!r} needs a value (<!-- {name}: ... -->)")
        if name == "exit" and not value.isdigit():
            raise PageError(f"{where}: <!-- exit: N --> needs a number, got {value!r}")
        found[name] = value
        index -= 1
    return found


def expected_pattern(text: str) -> re.Pattern[str]:
    """The ```text block as one pattern over the whole (line-normalised) output."""
    parts = []
    for line in text.rstrip("\n").splitlines():
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def normalised(output: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        if old:
            output = output.replace(old, new)
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


@contextlib.contextmanager
def docs_model() -> Iterator[ScriptedModel]:
    """The scripted model at the docs' address if free, else on a free port."""
    model = ScriptedModel(MODEL_SCRIPT, port=int(DOCS_ADDRESS.split(":")[1]))
    try:
        model.start()
    except OSError:
        model = ScriptedModel(MODEL_SCRIPT).start()
    try:
        yield model
    finally:
        model.stop()


def page_environment(user_home: Path, mark: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SCOOT_") and name not in ("OPENAI_API_KEY", "PYTEST_CURRENT_TEST")
    }
    env["HOME"] = str(user_home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DOCS_RUNNER_MARK"] = mark  # finds what a page left running
    env["TERM"] = "dumb"
    return env


def kill_leftovers(mark: str, groups: list[int]) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("DOCS_RUNNER_MARK") == mark:
                process.kill()


def run_block(
    block: Block, cwd: Path, env: dict[str, str], rewrite: list[tuple[str, str]], groups: list[int]
) -> tuple[int, str]:
    script = block.body
    for old, new in rewrite:
        script = script.replace(old, new)
    log = cwd.parent / f"block-{block.line}.out"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        groups.append(process.pid)
        try:
            code = process.wait(timeout=PER_BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(
                f"{block.where}: the block did not finish within {PER_BLOCK_TIMEOUT:.0f} s; "
                "bound what it starts (--ticks N, or & and a later stop) or mark it "
                "<!-- not-run: why -->\n"
                f"--- block ---\n{block.body}--- output so far ---\n"
                f"{tail(log.read_text(errors='replace'))}"
            ) from None
    return code, log.read_text(encoding="utf-8", errors="replace")


def tail(output: str, limit: int = 4000) -> str:
    """The end of a long output, which is where a failure shows."""
    return (
        output
        if len(output) <= limit
        else f"[... {len(output) - limit} characters]\n" + output[-limit:]
    )


def check_block(block: Block, code: int, output: str) -> None:
    if "Traceback (most recent call last)" in output:
        raise AssertionError(
            f"{block.where}: the block printed a traceback\n--- block ---\n{block.body}"
            f"--- output ---\n{tail(output)}"
        )
    expected_code = int(block.markers.get("exit", "0"))
    if code != expected_code:
        raise AssertionError(
            f"{block.where}: the block exited {code}, the page expects {expected_code}"
            + ("" if "exit" in block.markers else " (mark it <!-- exit: N --> if that is meant)")
            + f"\n--- block ---\n{block.body}--- output ---\n{tail(output)}"
        )
    if block.output is None:
        return
    if expected_pattern(block.output.body).fullmatch(output):
        return
    shown = block.output.body.rstrip("\n").splitlines()
    got = output.rstrip("\n").splitlines()
    diff = "\n".join(difflib.unified_diff(shown, got, "page shows", "block printed", lineterm=""))
    raise AssertionError(
        f"{block.output.where}: the output shown differs from what the block at line "
        f"{block.line} printed ('...' matches anything)\n--- block ---\n{block.body}{diff}"
    )


def run_page(page: Path, tmp_path: Path) -> int:
    """Run every run block of a page in order; the number of blocks run."""
    blocks = [block for block in parse_page(page) if block.runs]
    cwd, user_home = tmp_path / "work", tmp_path / "user-home"
    cwd.mkdir(parents=True)
    user_home.mkdir(parents=True)
    cwd, user_home = cwd.resolve(), user_home.resolve()
    mark = uuid.uuid4().hex
    env = page_environment(user_home, mark)
    groups: list[int] = []
    with docs_model() as model:
        actual = f"127.0.0.1:{model.port}"
        to_runner = [(DOCS_ADDRESS, actual)] if actual != DOCS_ADDRESS else []
        back = [(actual, DOCS_ADDRESS)] if actual != DOCS_ADDRESS else []
        shorten = [(str(cwd), "."), (str(user_home), "~")]
        try:
            for block in blocks:
                code, raw = run_block(block, cwd, env, to_runner, groups)
                check_block(block, code, normalised(raw, back + shorten))
        finally:
            kill_leftovers(mark, groups)
    return len(blocks)


# --- the pages ------------------------------------------------------------------------


@pytest.mark.timeout(PAGE_TIMEOUT)
@pytest.mark.parametrize("page", PAGES, ids=[shown_path(p) for p in PAGES])
def test_page_runs_as_written(page: Path, tmp_path: Path) -> None:
    run_page(page, tmp_path)


def test_pages_have_blocks_that_run() -> None:
    ran = {shown_path(page): sum(block.runs for block in parse_page(page)) for page in PAGES}
    assert sum(ran.values()) >= 15, ran
    for must in ("README.md", "docs/scheduling.md", "docs/DAEMON.md", "docs/scripted-model.md"):
        assert ran[must] > 0, f"{must} has no block that runs"


@pytest.mark.parametrize("page", PAGES, ids=[shown_path(p) for p in PAGES])
def test_every_fence_names_its_language(page: Path) -> None:
    unclear = [block.where for block in parse_page(page) if block.language in ("", "console")]
    assert not unclear, (
        f"fences without a clear language (```sh to run, ```text for output): {unclear}"
    )


def test_markers_stand_right_above_a_fence() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not MARKER.match(line):
                continue
            below = number + 1
            while below < len(lines) and MARKER.match(lines[below]):
                below += 1
            assert below < len(lines) and OPEN_FENCE.match(lines[below]), (
                f"{shown_path(page)}:{number + 1}: a marker must stand on the line "
                "right above a fence"
            )


REPOSITORY_PATH = re.compile(r"(?<![\w/.~-])((?:bench|deploy|docs|scoot|tests|worker)/[\w./-]*\w)")


@pytest.mark.parametrize("page", PAGES, ids=[shown_path(p) for p in PAGES])
def test_files_the_blocks_name_exist(page: Path) -> None:
    """Blocks that are not run (systemd, Kubernetes) are held to the files they install."""
    missing = [
        f"{block.where}: {name}"
        for block in parse_page(page)
        if block.language in RUN_LANGUAGES
        for name in REPOSITORY_PATH.findall(block.body)
        if not (ROOT / name).exists()
    ]
    assert not missing, f"blocks name files the repository does not have: {missing}"


# --- the runner itself, on pages made for it -------------------------------------------


@pytest.fixture
def scratch_page(tmp_path: Path) -> Callable[[str], Path]:
    """Write a page of its own for the runner to run."""

    def make(text: str) -> Path:
        path = tmp_path / f"page-{uuid.uuid4().hex[:8]}.md"
        path.write_text(text, encoding="utf-8")
        return path

    return make


def test_runner_compares_output_with_wildcards(scratch_page, tmp_path: Path) -> None:
    page = scratch_page(
        "```sh\nprintf 'one\\ntwo %s\\nthree\\nfour\\n' \"$PWD\"\n```\n\n"
        "```text\none\ntwo .\n...\nfo...\n```\n"
    )
    assert run_page(page, tmp_path) == 1


def test_runner_reports_the_page_line_and_the_difference(scratch_page, tmp_path: Path) -> None:
    page = scratch_page("intro\n\n```sh\necho hello\n```\n\n```text\ngoodbye\n```\n")
    with pytest.raises(AssertionError) as failure:
        run_page(page, tmp_path)
    message = str(failure.value)
    assert f"{page.name}:7: the output shown differs" in message
    assert "-goodbye" in message and "+hello" in message


def test_runner_checks_exit_status_and_honours_markers(scratch_page, tmp_path: Path) -> None:
    failing = scratch_page("```sh\necho start\nfalse\necho never\n```\n")
    with pytest.raises(AssertionError, match=r":1: the block exited 1, the page expects 0"):
        run_page(failing, tmp_path / "a")
    expected = scratch_page(
        "<!-- exit: 3 -->\n```bash\necho start\n(exit 3)\necho never\n```\n\n```text\nstart\n```\n"
        "<!-- not-run: shows a command CI cannot have -->\n```sh\nsudo reboot\n```\n"
    )
    assert run_page(expected, tmp_path / "b") == 1


def test_runner_refuses_a_traceback(scratch_page, tmp_path: Path) -> None:
    page = scratch_page(
        "<!-- exit: 1 -->\n```sh\npython -c 'raise SystemExit(open(\"/nonexistent\"))'\n```\n"
    )
    with pytest.raises(AssertionError, match=r":2: the block printed a traceback"):
        run_page(page, tmp_path)


def test_runner_serves_the_model_at_the_docs_address(scratch_page, tmp_path: Path) -> None:
    page = scratch_page(
        "```sh\nscoot --scoot-home ./h setup --non-interactive "
        "--base-url http://127.0.0.1:11434/v1 --model m >/dev/null\n"
        'scoot --scoot-home ./h -e "say done"\n```\n\n```text\ndone\n```\n'
    )
    assert run_page(page, tmp_path) == 1


def test_runner_bounds_a_block_and_kills_what_it_left(scratch_page, tmp_path: Path) -> None:
    started = time.monotonic()
    page = scratch_page("```sh\nsleep 600 &\necho $! > sleeper.pid\n```\n")
    run_page(page, tmp_path)
    sleeper = int((tmp_path / "work" / "sleeper.pid").read_text())
    assert not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == "zombie"
    assert time.monotonic() - started < PER_BLOCK_TIMEOUT


def test_port_in_use_falls_back_to_rewriting(scratch_page, tmp_path: Path) -> None:
    page = scratch_page(
        "```sh\necho http://127.0.0.1:11434/v1\n```\n\n```text\nhttp://127.0.0.1:11434/v1\n```\n"
    )
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", 11434))
            holder.listen()
        except OSError:
            pass  # someone else holds it: the fallback is what runs either way
        assert run_page(page, tmp_path) == 1


# --- blocks that are shown, not run ------------------------------------------------------

CONFIG_BLOCKS = [
    block for page in PAGES for block in parse_page(page) if block.language in ("toml", "json")
]


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=[block.where for block in CONFIG_BLOCKS])
def test_shown_config_parses(block: Block) -> None:
    if block.language == "json":
        json.loads(block.body)
    else:
        tomllib.loads(block.body)


TOML_CONFIGS = [block for block in CONFIG_BLOCKS if block.language == "toml"]


@pytest.mark.parametrize("block", TOML_CONFIGS, ids=[block.where for block in TOML_CONFIGS])
def test_shown_toml_is_a_config_scoot_takes_without_a_word(block: Block, tmp_path: Path) -> None:
    """Every key of a shown config is known and every job in it is valid."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(block.body, encoding="utf-8")
    env = page_environment(tmp_path, uuid.uuid4().hex)
    done = subprocess.run(
        ["scoot", "--scoot-home", str(home), "schedule", "list", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PER_BLOCK_TIMEOUT,
    )
    assert done.returncode == 0 and not done.stderr, f"{block.where}:\n{done.stderr}"
    jobs = json.loads(done.stdout)["jobs"]
    invalid = [job for job in jobs if str(job.get("reason") or "").startswith("invalid")]
    assert not invalid, f"{block.where}: invalid jobs {invalid}"


@pytest.mark.parametrize(
    "body",
    [
        '[[schedule.jobs]]\nid = "a"\ngoal = "g"\nevery_sec = 60\nevry = 1\n',  # unknown key
        '[[schedule.jobs]]\nid = "a"\ngoal = "g"\n',  # no trigger: invalid
    ],
)
def test_shown_toml_check_catches_mistakes(body: str, tmp_path: Path) -> None:
    block = Block(tmp_path / "page.md", 1, "toml", body)
    with pytest.raises(AssertionError, match="page.md:1"):
        test_shown_toml_is_a_config_scoot_takes_without_a_word(block, tmp_path)
