"""The optional keys of a `[[schedule.jobs]]` entry as a table of rules (pure).

Each rule names a key, the kind of value it takes, its bounds and the message
when it breaks them. The table's order is the order keys are checked in, so a
job breaking several rules is reported under the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from scoot.instance.sections import MAX_WHOLE
from scoot.shared.limits import LIMIT_KEYS
from scoot.shared.value_class import value_class

# A key the entry does not set and that has no default.
MISSING: Any = object()

Kind = Literal["whole", "number", "word", "text"]


@value_class(slots=True)
class FieldRule:
    """One key: `kind` and bounds say what it may hold, `message` what to write when not.

    `message` is formatted with the value as `value`; `into` is the Job field the
    value fills ("limits" gathers the resource limits into one mapping). An
    `optional` key set to null (in a JSON config) counts as not set.
    """

    key: str
    kind: Kind
    low: float = 0
    words: tuple[str, ...] = ()
    message: str = ""
    into: str = ""
    optional: bool = False

    def problem(self, value: Any) -> str | None:
        """Why `value` breaks this rule, or None."""
        if self.kind == "whole":
            ok = _is_int(value) and self.low <= value <= MAX_WHOLE
        elif self.kind == "number":
            ok = _is_number(value) and math.isfinite(value) and self.low <= value <= MAX_WHOLE
        elif self.kind == "word":
            ok = value in self.words
        else:
            ok = isinstance(value, str) and bool(value)
        if ok:
            return None
        return (self.message or WHOLE_MESSAGE).format(key=self.key, low=self.low, value=value)


WHOLE_MESSAGE = "{key} must be a whole number from {low:g} to " + f"{MAX_WHOLE}" + ", got {value!r}"


def _whole(key: str, low: int, into: str = "", optional: bool = False) -> FieldRule:
    return FieldRule(key, "whole", low, into=into or key, optional=optional)


# In the order they are checked; `backend` is further checked against the configured
# backends and `cwd` against the file system (see `extra_checks`).
FIELD_RULES: tuple[FieldRule, ...] = (
    _whole("timeout_sec", 1, optional=True),
    FieldRule(
        "catch_up",
        "word",
        words=("skip", "once"),
        message='catch_up must be "skip" or "once", got {value!r}',
        into="catch_up",
    ),
    FieldRule(
        "max_late_sec",
        "number",
        message="max_late_sec must be a number from 0 to " + f"{MAX_WHOLE}" + ", got {value!r}",
        into="max_late_sec",
        optional=True,
    ),
    FieldRule(
        "cwd", "text", message="cwd must be a path, got {value!r}", into="cwd", optional=True
    ),
    *(_whole(key, 0, "limits") for key in LIMIT_KEYS),
    _whole("jitter_sec", 0),
    _whole("pause_after_failures", 1, optional=True),
    FieldRule(
        "backend",
        "text",
        message="backend must be the name of a backend, got {value!r}",
        into="backend",
    ),
    _whole("max_tokens_per_run", 1),
    _whole("max_tokens_per_day", 1),
    _whole("retries", 0),
    _whole("retry_backoff_sec", 0),
)
RULE_KEYS = frozenset(rule.key for rule in FIELD_RULES)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cwd_problem(value: str, is_dir: Callable[[str], bool]) -> str | None:
    """A job that would fail at every run for want of its directory is inactive from the start."""
    return None if is_dir(value) else f"cwd {value!r} is not a directory: create it or fix the path"


def backend_problem(value: str, backends: frozenset[str] | None) -> str | None:
    if backends is None or value in backends:
        return None
    known = ", ".join(sorted(backends))
    return f"backend {value!r} is not configured (known: {known}); add [backends.{value}]"


def checked_fields(
    entry: dict[str, Any],
    present: frozenset[str] | set[str],
    defaults: dict[str, Any],
    is_dir: Callable[[str], bool],
    backends: frozenset[str] | None,
) -> tuple[dict[str, Any], str | None]:
    """The Job fields of the rule keys in `present` (given, or defaulted), or the first problem."""
    fields: dict[str, Any] = {}
    limits: dict[str, int] = {}
    for rule in FIELD_RULES:
        if rule.key not in present:
            continue
        value = entry.get(rule.key, defaults.get(rule.key, MISSING))
        if value is MISSING or (value is None and rule.optional):
            continue
        problem = rule.problem(value)
        if problem is None and rule.key == "cwd":
            problem = cwd_problem(value, is_dir)
        elif problem is None and rule.key == "backend":
            problem = backend_problem(value, backends)
        if problem:
            return fields, problem
        if rule.into == "limits":
            limits[rule.key] = value
        elif rule.key == "max_late_sec":
            fields["max_late_sec"] = float(value)
        else:
            fields[rule.into] = value
    if limits:
        fields["limits"] = limits
    return fields, None
