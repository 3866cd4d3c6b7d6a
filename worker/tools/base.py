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


def clip_observation(text: str, limit: int) -> str:
    """`text` cut to about `limit` chars, keeping head and tail and saying how much went."""
    if limit <= 0 or len(text) <= limit:
        return text
    # The marker's own length depends on the count; budget for the widest.
    marker_budget = len(f"\n... [clipped {len(text)} chars] ...\n")
    keep = limit - marker_budget
    if keep <= 0:
        return text[:limit]
    head = keep * 2 // 3
    tail = keep - head
    clipped = len(text) - head - tail
    tail_text = text[-tail:] if tail else ""
    return f"{text[:head]}\n... [clipped {clipped} chars] ...\n{tail_text}"
