"""Long text cut to a limit, with a visible mark of how much went (one rule for every clip).

Stdlib only and tiny: the worker clips its audit text and observations with
it in every run. The variants are parameters because the rule really
differs: whether the end is kept too (a tool's output ends with its errors),
and whether the mark counts against the limit (a terminal column, a model's
observation budget) or comes on top of it (records and payloads keep
`limit` characters of text).
"""

from __future__ import annotations

from typing import overload

MARK_START = " ... [clipped "  # how every counted mark begins (readers look for it)
HEAD_MARK = MARK_START + "{n} chars]"  # the start kept, then the mark
MIDDLE_MARK = MARK_START + "{n} chars] ... "  # start and end kept, the mark between
LINES_MARK = "\n... [clipped {n} chars] ...\n"  # the same, on lines of its own (tool output)
ELLIPSIS = "…"  # a terminal column: no count, one character


@overload
def clip(
    text: str, limit: int, *, tail: float = 0.0, mark: str | None = None, fit: bool = False
) -> str: ...


@overload
def clip(
    text: None, limit: int, *, tail: float = 0.0, mark: str | None = None, fit: bool = False
) -> None: ...


def clip(
    text: str | None, limit: int, *, tail: float = 0.0, mark: str | None = None, fit: bool = False
) -> str | None:
    """`text` as it is when it has at most `limit` characters (or `limit` is not positive).

    Else its first characters, the mark (`{n}` in it: how many characters
    went) and, with `tail`, that share of the kept characters from its end.
    The mark is `MIDDLE_MARK` when the end is kept, `HEAD_MARK` when not.
    With `fit` the result, mark included, has at most `limit` characters;
    without, `limit` characters of text are kept and the mark comes on top.
    """
    if text is None or limit <= 0 or len(text) <= limit:
        return text
    if mark is None:
        mark = MIDDLE_MARK if tail else HEAD_MARK
    keep = limit
    if fit:
        keep = limit - len(mark.format(n=len(text)))  # room for the widest count
        if keep <= 0:
            return text[:limit]
    head = int(keep * (1.0 - tail))
    tail_chars = keep - head
    shown_mark = mark.format(n=len(text) - head - tail_chars)
    return text[:head] + shown_mark + (text[-tail_chars:] if tail_chars else "")
