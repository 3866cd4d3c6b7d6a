"""Text for a human's terminal: control characters shown, never obeyed.

Model and tool text can hold escape sequences that move the cursor, clear
the screen, set the window title or hide text; every human view passes its
lines through `printable` so a reader sees them as `\\x1b` instead.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional
# overrides and isolates that reorder what a line appears to say.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with control characters (but newline and tab) escaped as `\\xNN` / `\\uNNNN`."""
    return _CONTROL.sub(_escape, text)


def for_stream(text: str, stream: TextIO | None = None) -> str:
    """`text` escaped when `stream` (stdout by default) is a terminal; raw for a pipe or file."""
    target = sys.stdout if stream is None else stream
    try:
        tty = target.isatty()
    except (AttributeError, ValueError):
        tty = False
    return printable(text) if tty else text
