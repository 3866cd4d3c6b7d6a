"""One config value checked against its field: type, bounds, choices, JSON-ness.

Pure. A file value that breaks its field is an error; a SCOOT_* value is
first turned from text into the field's type.
"""

from __future__ import annotations

import math
from typing import Any

from scoot.instance.sections import CHOICES, MAX_WHOLE, MINIMUMS, field_kind


def check_value(section: str, name: str, value: Any, where: str) -> tuple[Any, str | None]:
    """Return (value to use, None) or (None, error text) for one field."""
    kind = field_kind(section, name)
    key = f"[{section}] {name}"
    if kind is bool:
        if not isinstance(value, bool):
            return None, f"{where}: {key} must be true or false, got {value!r}"
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"{where}: {key} must be an integer, got {value!r}"
        low = MINIMUMS.get((section, name))
        if low is not None and value < low:
            return None, f"{where}: {key} must be >= {low}, got {value}"
        if value > MAX_WHOLE:
            return None, f"{where}: {key} must be <= {MAX_WHOLE}, got {value}"
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"{where}: {key} must be a number, got {value!r}"
        if not math.isfinite(value) or value < 0:
            return None, f"{where}: {key} must be a finite number >= 0, got {value!r}"
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            return None, f"{where}: {key} must be a string, got {value!r}"
        choices = CHOICES.get((section, name))
        if choices and value not in choices:
            return None, f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}"
    elif kind is dict:
        if not isinstance(value, dict):
            return None, f"{where}: {key} must be a table, got {value!r}"
        problem = _json_problem(value, name)
        if problem:
            return None, f"{where}: {key} must hold only JSON values: {problem}"
    elif kind is tuple:
        if not isinstance(value, list):
            return None, f"{where}: {key} must be an array of tables, got {value!r}"
        value = tuple(value)
    return value, None


def _json_problem(value: Any, path: str) -> str | None:
    """Why `value` cannot travel as JSON (to the worker, then the model server), or None."""
    if isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        # orjson, which carries the run spec, stops at 64 bits.
        return None if -(2**63) <= value < 2**64 else f"{path} = {value} is too large"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} = {value} is not a finite number"
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for item_key, item in value.items():
            problem = _json_problem(item, f"{path}.{item_key}")
            if problem:
                return problem
        return None
    return f"{path} is a {type(value).__name__}; use a string, number, boolean, array or table"


def parse_env_value(section: str, name: str, text: str) -> Any:
    """Turn a SCOOT_* string into the field's type; raises ValueError when it cannot."""
    kind = field_kind(section, name)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("true or false")
    if kind is int:
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise ValueError("a whole number (an integer)") from None
    if kind is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("a number") from None
    if kind is dict:
        import json  # here: only an environment override of a table reads JSON

        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError("a JSON object")
        return value
    return text


def shown_key(name: str) -> str:
    """A key as the user wrote it, quoted when it would not print as one plain line."""
    return name if name and name.isprintable() and name.strip() == name else repr(name)
