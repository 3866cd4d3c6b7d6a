"""The agent's built-in actions and the parsing of their `action_input` strings.

Imported by the parent (`scoot policy check`) and by every worker, so it uses
the standard library only and does no work at import time beyond building
one small table.

Each turn the model sends `{"thought", "action", "action_input"}` with
`action_input` a string. Single-argument actions take the plain string;
multi-argument actions take a JSON object encoded in that string. Where it is
unambiguous both shapes are accepted, because models mix them up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from scoot.shared.clipping import clip
from scoot.shared.value_class import value_class

HTTP_METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Methods that only fetch; everything else may change state on the remote side.
HTTP_READ_METHODS: frozenset[str] = frozenset({"GET", "HEAD"})

MAX_GREP_CONTEXT = 20


class ActionInputError(ValueError):
    """An action or its input the model must correct; the message is one actionable line."""


@value_class
class ActionSpec:
    """One built-in action: what it needs (capability) and how the model calls it."""

    name: str
    # One of "exec", "read", "write", "net", "final".
    capability: str
    description: str
    input_help: str
    # The argument the policy gate confines as a path, if any.
    path_arg: str | None = None


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "bash",
            "exec",
            "run a shell command (/bin/sh -c) in the working directory",
            "the command string; background processes are stopped when it returns",
        ),
        ActionSpec(
            "file_read",
            "read",
            "read a text file",
            'a path, or {"path": ..., "start": N, "end": M} for lines N..M (1-based, inclusive)',
            path_arg="path",
        ),
        ActionSpec(
            "file_write",
            "write",
            "create or replace a file (its directory must exist)",
            '{"path": ..., "content": ...}',
            path_arg="path",
        ),
        ActionSpec(
            "file_edit",
            "write",
            "replace one exact occurrence of a text in a file",
            '{"path": ..., "old": <exact text, must occur once>, "new": ...}',
            path_arg="path",
        ),
        ActionSpec(
            "grep",
            "read",
            "search one file with a Python regular expression",
            '{"pattern": ..., "path": ..., "context": N (optional lines around each match)}',
            path_arg="path",
        ),
        ActionSpec(
            "glob",
            "read",
            "list files matching a pattern relative to the working directory",
            "a pattern such as src/**/*.py",
            path_arg="pattern",
        ),
        ActionSpec(
            "http_request",
            "net",
            "make an HTTP request",
            'a URL (GET), or {"method": "GET|HEAD|POST|PUT|PATCH|DELETE", "url": ..., '
            '"body": ..., "headers": {...}}',
        ),
        ActionSpec("final", "final", "finish with the answer", "the answer text"),
    )
}


@value_class
class ParsedAction:
    """A validated action: its name, typed arguments and resolved capability.

    `capability` is the spec's capability, with "net" split by method into
    "net_read" (GET, HEAD) and "net_write" (anything else).
    """

    action: str
    args: dict[str, Any] = field(hash=False)
    capability: str


def known_actions_line() -> str:
    """The list of action names, for error messages."""
    return ", ".join(ACTIONS)


def describe_actions(names: Iterable[str]) -> str:
    """System-prompt lines for the given actions: name, what it does, its input."""
    lines = []
    for name in names:
        spec = ACTIONS[name]
        lines.append(f"- {spec.name}: {spec.description}. action_input: {spec.input_help}")
    return "\n".join(lines)


def parse_input(action: str, action_input: str | Mapping[str, Any]) -> ParsedAction:
    """Validate `action` and decode `action_input` into typed arguments.

    Raises ActionInputError with one line the model can act on. A mapping is
    accepted in place of its JSON text, for loops that already decoded it.
    """
    if not isinstance(action, str):
        raise ActionInputError(f"action must be a string, one of: {known_actions_line()}")
    name = action.strip().lower()
    spec = ACTIONS.get(name)
    if spec is None:
        shown = clip(action, 40, mark="...")
        raise ActionInputError(f"unknown action {shown!r}; use one of: {known_actions_line()}")
    if not isinstance(action_input, (str, Mapping)):
        raise ActionInputError(f"{name} action_input must be a string")
    args = _PARSERS[name](action_input)
    return ParsedAction(action=name, args=args, capability=_capability(spec, args))


def _capability(spec: ActionSpec, args: Mapping[str, Any]) -> str:
    if spec.capability != "net":
        return spec.capability
    return "net_read" if args["method"] in HTTP_READ_METHODS else "net_write"


def _as_object(raw: str | Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON object `raw` holds, or None when it is not one."""
    if isinstance(raw, Mapping):
        return dict(raw)
    text = raw.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _require_object(raw: str | Mapping[str, Any], action: str, shape: str) -> dict[str, Any]:
    obj = _as_object(raw)
    if obj is None:
        raise ActionInputError(f"{action} needs a JSON object {shape}")
    return obj


def _string_field(
    obj: Mapping[str, Any], key: str, action: str, shape: str, *, non_empty: bool = True
) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ActionInputError(f'{action} needs "{key}" as a string: {shape}')
    if non_empty and not value.strip():
        raise ActionInputError(f'{action} needs a non-empty "{key}": {shape}')
    return value


def _line_number(obj: Mapping[str, Any], key: str, action: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ActionInputError(f'{action} "{key}" must be a line number >= 1')
    return value


def _path_text(value: str, action: str) -> str:
    if "\x00" in value:
        raise ActionInputError(f"{action} path must not contain NUL bytes")
    return value.strip()


def _single_string(raw: str | Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """The plain string, or the first of `keys` from a JSON object carrying it."""
    obj = _as_object(raw)
    if obj is not None:
        for key in keys:
            value = obj.get(key)
            if isinstance(value, str):
                return value
    if isinstance(raw, Mapping):
        return ""
    return raw


def _parse_bash(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    # `{ cmd; }` is valid shell, so a JSON object counts only when it carries "command".
    command = _single_string(raw, ("command", "cmd"))
    if not command.strip():
        raise ActionInputError("bash needs a non-empty command string")
    return {"command": command}


def _parse_file_read(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    shape = '{"path": ..., "start": N, "end": M}'
    obj = _as_object(raw)
    if obj is None:
        path = _path_text(str(raw), "file_read")
        if not path:
            raise ActionInputError("file_read needs a path")
        return {"path": path, "start": None, "end": None}
    path = _path_text(_string_field(obj, "path", "file_read", shape), "file_read")
    start = _line_number(obj, "start", "file_read")
    end = _line_number(obj, "end", "file_read")
    if start is not None and end is not None and end < start:
        raise ActionInputError(f'file_read "end" ({end}) is before "start" ({start})')
    return {"path": path, "start": start, "end": end}


def _parse_file_write(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    shape = '{"path": ..., "content": ...}'
    obj = _require_object(raw, "file_write", shape)
    path = _path_text(_string_field(obj, "path", "file_write", shape), "file_write")
    content = _string_field(obj, "content", "file_write", shape, non_empty=False)
    return {"path": path, "content": content}


def _parse_file_edit(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    shape = '{"path": ..., "old": ..., "new": ...}'
    obj = _require_object(raw, "file_edit", shape)
    path = _path_text(_string_field(obj, "path", "file_edit", shape), "file_edit")
    old = _string_field(obj, "old", "file_edit", shape, non_empty=False)
    if old == "":
        raise ActionInputError('file_edit needs a non-empty "old" text to replace')
    new = _string_field(obj, "new", "file_edit", shape, non_empty=False)
    return {"path": path, "old": old, "new": new}


def _parse_grep(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    shape = '{"pattern": ..., "path": ..., "context": N}'
    obj = _require_object(raw, "grep", shape)
    pattern = _string_field(obj, "pattern", "grep", shape, non_empty=False)
    if pattern == "":
        raise ActionInputError(f'grep needs a non-empty "pattern": {shape}')
    path = _path_text(_string_field(obj, "path", "grep", shape), "grep")
    context = obj.get("context", 0)
    if context is None:
        context = 0
    if isinstance(context, str) and context.strip().isdigit():
        context = int(context.strip())
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ActionInputError('grep "context" must be a number of lines >= 0')
    return {"pattern": pattern, "path": path, "context": min(context, MAX_GREP_CONTEXT)}


def _parse_glob(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    pattern = _path_text(_single_string(raw, ("pattern",)), "glob")
    if not pattern:
        raise ActionInputError("glob needs a pattern such as src/**/*.py")
    return {"pattern": pattern}


def _parse_http_request(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    shape = '{"method": ..., "url": ..., "body": ..., "headers": {...}}'
    obj = _as_object(raw)
    if obj is None:
        obj = {"url": str(raw)}
    url = _string_field(obj, "url", "http_request", shape).strip()
    method = obj.get("method", "GET")
    if not isinstance(method, str) or method.strip().upper() not in HTTP_METHODS:
        raise ActionInputError(f"http_request method must be one of: {', '.join(HTTP_METHODS)}")
    method = method.strip().upper()
    body = obj.get("body")
    if body is not None and not isinstance(body, str):
        # A model often sends a JSON body as an object; send it as JSON text.
        body = json.dumps(body)
    headers = obj.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ActionInputError('http_request "headers" must be an object of strings')
    if any(ch in f"{k}{v}" for k, v in headers.items() for ch in "\r\n\x00"):
        raise ActionInputError('http_request "headers" must not contain line breaks')
    _check_http_url(url)
    return {"method": method, "url": url, "body": body, "headers": dict(headers)}


def _check_http_url(url: str) -> None:
    bad = f"http_request needs an http:// or https:// URL with a host, got {url[:80]!r}"
    if any(ch.isspace() or ch == "\x00" for ch in url):
        raise ActionInputError(f"http_request URL must not contain whitespace: {url[:80]!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ActionInputError(bad) from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ActionInputError(bad)


def _parse_final(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    # Only a lone {"answer": ...} is unwrapped: any other JSON is the answer itself.
    obj = _as_object(raw)
    if obj is not None and set(obj) == {"answer"} and isinstance(obj["answer"], str):
        return {"answer": obj["answer"]}
    if isinstance(raw, Mapping):
        return {"answer": json.dumps(dict(raw))}
    return {"answer": raw}


_PARSERS = {
    "bash": _parse_bash,
    "file_read": _parse_file_read,
    "file_write": _parse_file_write,
    "file_edit": _parse_file_edit,
    "grep": _parse_grep,
    "glob": _parse_glob,
    "http_request": _parse_http_request,
    "final": _parse_final,
}
