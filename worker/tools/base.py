"""What every tool shares: its error, its output bounds and the clipping of what the model sees."""

from __future__ import annotations

MAX_GREP_MATCHES = 200


MAX_GLOB_RESULTS = 500


MAX_LINE_CHARS = 500


# Bytes of one line kept for grep; the rest of a longer line is skipped.
MAX_LINE_BYTES = 64 * 1024


BINARY_SNIFF_BYTES = 8 * 1024


MAX_EDIT_BYTES = 16 * 1024 * 1024


class ToolError(Exception):
    """A failed action the model can correct; the message is one line."""
