"""Text for a human's terminal: control characters shown, never obeyed.

Model and tool text can hold escape sequences that move the cursor, clear
the screen, set the window title or hide text; every human view passes its
lines through `printable` so a reader sees them as `\\x1b` instead.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any, TextIO

from scoot.shared.clipping import ELLIPSIS, clip

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


def printable_line(text: str) -> str:
    """Text as one terminal-safe line: every unprintable character (newline and tab
    too) shown as its escape, not obeyed."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def shorten(text: str, width: int) -> str:
    """`text` on one safe line of at most `width` characters, an ellipsis marking a cut."""
    flat = printable_line(" ".join(text.split()))
    return clip(flat, width, mark=ELLIPSIS, fit=True)


def utc(ts: Any) -> str:
    """A Unix time as a UTC date; "?" for what no date can show (a hand-edited record)."""
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return "?"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return "?"
