"""The search tools: grep one file and glob under the working directory, both bounded."""

from __future__ import annotations

import os
import re
import time
from collections import deque
from pathlib import Path

from scoot.shared.clipping import clip
from scoot.shared.policy import (
    ProtectedPaths,
    match_problem,
)
from worker.tools.base import (
    MAX_GLOB_RESULTS,
    MAX_GREP_MATCHES,
    MAX_LINE_BYTES,
    MAX_LINE_CHARS,
    ToolError,
)
from worker.tools.files import _capped_lines, _open_text_checked


def grep_file(cwd: str, pattern: str, path: str, context: int, deadline: float) -> str:
    """Lines of `path` matching the regex, numbered (`N:` match, `N-` context).

    The deadline is checked between lines; one pathological regex on one
    line cannot be interrupted in-process, which the run's own timeout bounds.
    """
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ToolError(f"bad regex {pattern!r}: {error}") from None
    output: list[str] = []
    before: deque[tuple[int, str]] = deque(maxlen=context)
    after_left = 0
    last_printed = 0
    matches = 0
    with _open_text_checked(cwd, path) as handle:
        lines = _capped_lines(handle, MAX_LINE_BYTES)
        for number, raw in enumerate(lines, start=1):
            if number % 1024 == 0 and time.monotonic() > deadline:
                raise ToolError(f"grep timed out in {path} at line {number}")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if regex.search(line):
                matches += 1
                if matches <= MAX_GREP_MATCHES:
                    if context and output and before and before[0][0] > last_printed + 1:
                        output.append("--")
                    for old_number, old_line in before:
                        output.append(f"{old_number}- {clip(old_line, MAX_LINE_CHARS)}")
                    output.append(f"{number}: {clip(line, MAX_LINE_CHARS)}")
                    before.clear()
                    last_printed = number
                    after_left = context
                continue
            if after_left and matches <= MAX_GREP_MATCHES:
                output.append(f"{number}- {clip(line, MAX_LINE_CHARS)}")
                last_printed = number
                after_left -= 1
            elif context:
                before.append((number, line))
    if not matches:
        return f"no matches for {pattern!r} in {path}"
    if matches > MAX_GREP_MATCHES:
        output.append(f"[{matches - MAX_GREP_MATCHES} more matches not shown]")
    return "\n".join(output)


def glob_files(
    cwd: str, pattern: str, deadline: float, protected: ProtectedPaths | None = None
) -> str:
    """Sorted paths under `cwd` matching the relative `pattern` (`**` recurses).

    With `protected` (every mode but unrestricted) a match is listed only when
    it passes the gate's path rules once resolved; the others are counted.
    """
    if pattern.startswith("/") or pattern.startswith("~"):
        raise ToolError(f"glob needs a pattern relative to the working directory, got {pattern!r}")
    if ".." in Path(pattern).parts:
        raise ToolError(f"glob pattern {pattern!r} must not leave the working directory (..)")
    root = Path(os.path.realpath(cwd))
    found: list[str] = []
    withheld = 0
    try:
        for match in root.glob(pattern):
            if time.monotonic() > deadline:
                raise ToolError(f"glob {pattern!r} timed out after {len(found)} matches")
            if protected is not None:
                if match_problem(str(root), str(match), protected) is not None:
                    withheld += 1
                    continue
            else:
                # Symlinks inside cwd may lead out of it: list only what really lies inside.
                real = os.path.realpath(match)
                if real != str(root) and not real.startswith(str(root).rstrip("/") + "/"):
                    continue
            relative = match.relative_to(root).as_posix()
            found.append(relative + "/" if match.is_dir() else relative)
    except ValueError as error:
        raise ToolError(f"bad glob pattern {pattern!r}: {error}") from None
    except OSError as error:
        raise ToolError(f"glob {pattern!r} failed: {error.strerror or error}") from None
    note = (
        f"\n[{withheld} matches withheld: outside the working directory, sensitive or protected]"
        if withheld
        else ""
    )
    if not found:
        return f"no files match {pattern!r}" + note
    found.sort()
    shown = found[:MAX_GLOB_RESULTS]
    more = len(found) - len(shown)
    return "\n".join(shown) + (f"\n[{more} more not shown]" if more else "") + note
