"""The one text clipper: each variant the records, payloads, views and the worker use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoot.shared.clipping import ELLIPSIS, LINES_MARK, MARK_START, clip


def test_short_text_and_none_pass_through() -> None:
    assert clip("short", 100) == "short"
    assert clip("x" * 100, 100) == "x" * 100
    assert clip(None, 10) is None
    assert clip("anything", 0) == "anything"  # no positive limit, no clip


def test_head_only_keeps_limit_chars_and_counts_the_rest() -> None:
    assert clip("abcdefghij", 4) == "abcd ... [clipped 6 chars]"


def test_head_and_tail_keep_both_ends_around_the_mark() -> None:
    text = "A" * 10 + "B" * 10
    assert clip(text, 8, tail=0.5) == "AAAA ... [clipped 12 chars] ... BBBB"


def test_a_fitting_mark_counts_against_the_limit() -> None:
    assert clip("one two three", 7, mark=ELLIPSIS, fit=True) == "one tw…"
    assert clip("abcdefghij", 6, mark="...", fit=True) == "abc..."
    # No room for any text beside the mark: the text itself, cut to the limit.
    assert clip("abcdefghij", 2, mark="...", fit=True) == "ab"


def test_tool_output_keeps_two_thirds_head_one_third_tail_on_lines_of_their_own() -> None:
    text = "H" * 5000 + "T" * 5000
    clipped = clip(text, 1000, tail=1 / 3, mark=LINES_MARK, fit=True)
    assert len(clipped) <= 1000
    head, marker_and_tail = clipped.split("\n... [clipped ", 1)
    cut = int(marker_and_tail.split(" ", 1)[0])
    tail = marker_and_tail.split("] ...\n", 1)[1]
    assert set(head) == {"H"} and set(tail) == {"T"}
    assert len(head) + cut + len(tail) == len(text)
    assert len(head) == 2 * len(tail) or len(head) == 2 * len(tail) - 1


@pytest.mark.parametrize("tail", [0.0, 0.5])
def test_every_counted_mark_begins_alike(tail: float) -> None:
    # notify's views look for this start to know a stored answer was clipped.
    assert MARK_START in clip("z" * 50, 10, tail=tail)


@given(
    st.text(max_size=300),
    st.integers(min_value=1, max_value=200),
    st.sampled_from([0.0, 1 / 3, 0.5]),
    st.booleans(),
)
def test_what_is_kept_plus_what_is_counted_is_the_whole_text(
    text: str, limit: int, tail: float, fit: bool
) -> None:
    clipped = clip(text, limit, tail=tail, fit=fit)
    if len(text) <= limit:
        assert clipped == text
        return
    if fit:
        assert len(clipped) <= limit
    if MARK_START not in clipped:
        assert fit and clipped == text[:limit]  # too little room for the mark
        return
    head, _, rest = clipped.partition(MARK_START)
    count, _, tail_text = rest.partition(" chars]")
    tail_text = tail_text.removeprefix(" ... ")
    assert text.startswith(head) and text.endswith(tail_text)
    assert len(head) + int(count) + len(tail_text) == len(text)
