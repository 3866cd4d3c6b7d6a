"""One tool call: checked by the gate, run by its tool, its observation bounded."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from scoot.shared.actions import ParsedAction
from scoot.shared.policy import (
    ProtectedPaths,
)
from worker.tools.base import ToolError
from worker.tools.bash import run_bash, scrubbed_environment
from worker.tools.files import edit_file, read_file, write_file
from worker.tools.http import http_request
from worker.tools.search import glob_files, grep_file


def run_tool(
    parsed: ParsedAction,
    *,
    cwd: str,
    timeout_s: float,
    max_output_bytes: int = 64 * 1024,
    block_internal_http: bool = True,
    scrub_env: Iterable[str] = (),
    protected: ProtectedPaths | None = None,
) -> str:
    """Run `parsed` in `cwd` and return the observation text (ToolError on bad input).

    `protected` (given outside unrestricted) filters glob matches through the
    gate's rules: the gate checked the pattern, each match is checked here.
    """
    args = parsed.args
    deadline = time.monotonic() + timeout_s
    if parsed.action == "bash":
        return run_bash(
            args["command"],
            cwd=cwd,
            timeout_s=timeout_s,
            max_output_bytes=max_output_bytes,
            env=scrubbed_environment(os.environ, scrub_env),
        )
    if parsed.action == "file_read":
        return read_file(cwd, args["path"], args["start"], args["end"], max_output_bytes)
    if parsed.action == "file_write":
        return write_file(cwd, args["path"], args["content"])
    if parsed.action == "file_edit":
        return edit_file(cwd, args["path"], args["old"], args["new"])
    if parsed.action == "grep":
        return grep_file(cwd, args["pattern"], args["path"], args["context"], deadline)
    if parsed.action == "glob":
        return glob_files(cwd, args["pattern"], deadline, protected)
    if parsed.action == "http_request":
        return http_request(
            args["method"],
            args["url"],
            body=args["body"],
            headers=args["headers"],
            timeout_s=timeout_s,
            max_output_bytes=max_output_bytes,
            block_internal=block_internal_http,
        )
    if parsed.action == "final":
        return str(args["answer"])
    raise ToolError(f"no tool for action {parsed.action!r}")
