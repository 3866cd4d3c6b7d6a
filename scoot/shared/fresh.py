"""Fresh copies of parsed values, so a long-lived object holds nothing the parser made.

CPython's small-object allocator gives a 1 MiB arena back to the system only
when every block in it is free. A parser makes the values it returns (a job's
id, its goal, its at_unix float) side by side with its own short-lived tables
and key strings; a job that kept those very objects would keep the arenas of
the whole freed parse resident, a few live blocks in each. A copy made after
the parse lives in pools of its own. With ten thousand jobs the daemon holds
2 MiB less this way, for about 10 ms added to the 50 of validating them
(docs/performance.md); only a daemon's jobs are copied, a command that
prints and exits keeps what the parser made.
"""

from __future__ import annotations

from typing import Any, TypeVar

_Value = TypeVar("_Value")

# A job's values nest two levels at most (a job's table, a list of names); a table
# nested deeper (TOML's dotted keys make one of any depth without recursion) is kept as
# the parser made it rather than copied by recursion that could run out of stack.
MAX_COPIED_DEPTH = 8


def fresh_copy(value: _Value, strings: dict[str, str], depth: int = 0) -> _Value:
    """An equal value that shares no string, number, list or table with `value`.

    `strings` holds the copies made so far, one per distinct text: values that
    repeat across jobs (a goal, a cwd, a backend's name) share one copy, as
    they would not if each job had its own. Only the types a TOML parser
    returns are copied; anything else (a date, None, a bool) is returned as is,
    and so is a list or table nested more than MAX_COPIED_DEPTH deep.
    """
    kind = type(value)
    copied: Any
    if kind is str:
        copied = strings.get(value)  # type: ignore[call-overload]
        if copied is None:
            # A join of two always builds a new string, even of one character.
            copied = strings[value] = "".join((value, ""))  # type: ignore[index,arg-type]
    elif kind is float:
        copied = value * 1.0  # type: ignore[operator]  # keeps -0.0 and nan as they are
    elif kind is int:
        copied = value + 0  # type: ignore[operator]
    elif depth >= MAX_COPIED_DEPTH:
        return value
    elif kind is dict:
        copied = _fresh_table(value, strings, depth + 1)  # type: ignore[arg-type]
    elif kind is list:
        copied = [fresh_copy(item, strings, depth + 1) for item in value]  # type: ignore[attr-defined]
    else:
        return value
    return copied  # type: ignore[no-any-return]


def _fresh_table(table: dict[str, Any], strings: dict[str, str], depth: int) -> dict[str, Any]:
    """A table's copy, its texts and floats copied here: a job's entry is mostly those, and
    without a call per value ten thousand entries take 5.5 ms, not 9."""
    copied: dict[str, Any] = {}
    for key, item in table.items():
        kind = type(item)
        if kind is str:
            text = strings.get(item)
            if text is None:
                text = strings[item] = "".join((item, ""))
            copied[key] = text
        elif kind is float:
            copied[key] = item * 1.0
        else:
            copied[key] = fresh_copy(item, strings, depth)
    return copied
