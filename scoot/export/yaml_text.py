"""A small YAML writer for the Kubernetes manifests: block mappings and lists, quoted scalars."""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN_YAML_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")


def to_yaml(value: dict[str, Any], indent: int = 0) -> list[str]:
    """Block-style YAML lines for a mapping; strings are JSON-quoted, so always safe."""
    lines: list[str] = []
    pad = " " * indent
    for key, item in value.items():
        label = key if _PLAIN_YAML_KEY.fullmatch(key) else json.dumps(key)
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{label}:")
            lines.extend(to_yaml(item, indent + 2))
        elif isinstance(item, list) and item:
            lines.append(f"{pad}{label}:")
            lines.extend(_yaml_list(item, indent + 2))
        else:
            lines.append(f"{pad}{label}: {_yaml_scalar(item)}")
    return lines


def _yaml_list(items: list[Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for item in items:
        if isinstance(item, dict) and item:
            nested = to_yaml(item, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        elif isinstance(item, list) and item:
            raise ValueError("nested lists are not written")
        else:
            lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    raise ValueError(f"cannot write {type(value).__name__} as YAML")
