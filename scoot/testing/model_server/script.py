"""The model script: steps, rules and usage, parsed and checked from JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scoot.records.files import UnreadableFile, read_regular_file
from scoot.shared.value_class import value_class

MAX_SCRIPT_BYTES = 16 * 1024 * 1024


DEFAULT_MODEL = "scripted"


EXHAUSTED_REPLY = json.dumps(
    {"thought": "script exhausted", "action": "final", "action_input": "script exhausted"}
)


_SCRIPT_KEYS = frozenset(
    {"model", "models", "rules", "default", "require_token", "serve_models", "usage"}
)


_CONTENT_KEYS = ("action", "final", "raw", "refusal")


_STEP_KEYS = frozenset(
    {
        "thought",
        "action",
        "action_input",
        "final",
        "raw",
        "refusal",
        "delay_ms",
        "status",
        "fail_times",
        "retry_after",
        "hang",
        "body",
        "truncate",
        "usage",
    }
)


# A step's usage: not set (the script's, else the API's usual), none reported, or tokens.
USAGE_UNSET = "unset"


Usage = tuple[int, int] | None | str


class ScriptError(ValueError):
    """A script that cannot be served; the message is one line naming the place."""


@value_class
class Step:
    """One scripted reply and the faults injected before it."""

    content: str | None
    refusal: str | None
    delay_ms: int = 0
    status: int | None = None
    fail_times: int | None = None
    retry_after: float | None = None
    hang: bool = False
    body: str | None = None
    truncate: bool = False
    usage: Usage = USAGE_UNSET  # (input, output) tokens, None for none reported

    @property
    def has_fault(self) -> bool:
        return self.status is not None or self.hang or self.body is not None or self.truncate


EXHAUSTED_STEP = Step(content=EXHAUSTED_REPLY, refusal=None)


@value_class
class Rule:
    pattern: re.Pattern[str]
    steps: tuple[Step, ...]


@value_class
class Script:
    model: str
    models: tuple[str, ...] | None
    rules: tuple[Rule, ...]
    default: tuple[Step, ...]
    require_token: str | None
    serve_models: bool = True  # False: GET /models is 404, like servers that lack it
    usage: Usage = USAGE_UNSET  # the usage of steps that set none


def _expect_int(value: object, where: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ScriptError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _expect_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ScriptError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _expect_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScriptError(f"{where} must be true or false, got {value!r}")
    return value


def parse_usage(raw: object, where: str) -> Usage:
    """`{"input": N, "output": N}` tokens, or null for a reply that reports no usage."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"input", "output"}:
        raise ScriptError(f'{where} must be {{"input": N, "output": N}} or null')
    return (
        _expect_int(raw.get("input", 0), f"{where}.input", minimum=0),
        _expect_int(raw.get("output", 0), f"{where}.output", minimum=0),
    )


def parse_step(raw: object, where: str) -> Step:
    """Validate one step; `where` names it in errors (e.g. `rules[0].steps[1]`)."""
    if not isinstance(raw, dict):
        raise ScriptError(f"{where} must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise ScriptError(f"{where} has unknown key {unknown[0]!r}")
    kinds = [key for key in _CONTENT_KEYS if key in raw]
    if len(kinds) > 1:
        raise ScriptError(f"{where} sets both {kinds[0]!r} and {kinds[1]!r}; use one per step")
    kind = kinds[0] if kinds else None
    content, refusal = _step_reply(raw, where, kind)
    status = raw.get("status")
    if status is not None and (
        not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599
    ):
        raise ScriptError(f"{where}.status must be an HTTP error status (400-599), got {status!r}")
    fail_times = raw.get("fail_times")
    if fail_times is not None:
        fail_times = _expect_int(fail_times, f"{where}.fail_times", minimum=1)
    retry_after = raw.get("retry_after")
    if retry_after is not None and (
        not isinstance(retry_after, int | float) or isinstance(retry_after, bool) or retry_after < 0
    ):
        raise ScriptError(f"{where}.retry_after must be a number of seconds >= 0")
    body = raw.get("body")
    if body is not None:
        body = _expect_str(body, f"{where}.body")
    step = Step(
        content=content,
        refusal=refusal,
        delay_ms=_expect_int(raw.get("delay_ms", 0), f"{where}.delay_ms", minimum=0),
        status=status,
        fail_times=fail_times,
        retry_after=retry_after,
        hang=_expect_bool(raw.get("hang", False), f"{where}.hang"),
        body=body,
        truncate=_expect_bool(raw.get("truncate", False), f"{where}.truncate"),
        usage=parse_usage(raw["usage"], f"{where}.usage") if "usage" in raw else USAGE_UNSET,
    )
    if kind is None and (not step.has_fault or step.fail_times is not None or step.truncate):
        raise ScriptError(f"{where} has no reply: set one of 'action', 'final', 'raw' or 'refusal'")
    if fail_times is not None and not step.has_fault:
        raise ScriptError(f"{where}.fail_times needs a fault (status, hang, body or truncate)")
    return step


def _step_reply(raw: dict[str, Any], where: str, kind: str | None) -> tuple[str | None, str | None]:
    """The reply content (or refusal) of a step whose content key is `kind`."""
    content: str | None = None
    refusal: str | None = None
    if kind == "action":
        thought = _expect_str(raw.get("thought", ""), f"{where}.thought")
        action = _expect_str(raw["action"], f"{where}.action")
        action_input = _expect_str(raw.get("action_input", ""), f"{where}.action_input")
        content = json.dumps({"thought": thought, "action": action, "action_input": action_input})
    elif kind == "final":
        answer = _expect_str(raw["final"], f"{where}.final")
        thought = _expect_str(raw.get("thought", "done"), f"{where}.thought")
        content = json.dumps({"thought": thought, "action": "final", "action_input": answer})
    elif kind == "raw":
        content = _expect_str(raw["raw"], f"{where}.raw")
    elif kind == "refusal":
        refusal = _expect_str(raw["refusal"], f"{where}.refusal")
    allowed_with = {"thought": ("action", "final"), "action_input": ("action",)}
    for key, kinds_allowed in allowed_with.items():
        if key in raw and kind not in kinds_allowed:
            raise ScriptError(
                f"{where}.{key} needs {' or '.join(map(repr, kinds_allowed))} in the same step"
            )
    return content, refusal


def _parse_steps(raw: object, where: str) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ScriptError(f"{where} must be a list of steps")
    return tuple(parse_step(item, f"{where}[{index}]") for index, item in enumerate(raw))


def parse_script(raw: object) -> Script:
    """Validate a script (as loaded from JSON) or raise ScriptError with one line."""
    if not isinstance(raw, dict):
        raise ScriptError("script must be a JSON object with 'rules' and/or 'default'")
    unknown = sorted(set(raw) - _SCRIPT_KEYS)
    if unknown:
        raise ScriptError(f"script has unknown key {unknown[0]!r}")
    model = _expect_str(raw.get("model", DEFAULT_MODEL), "model")
    models: tuple[str, ...] | None = None
    if "models" in raw:
        listed = raw["models"]
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            raise ScriptError("models must be a list of model names")
        models = tuple(listed)
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ScriptError("rules must be a list")
    rules = []
    for index, rule in enumerate(rules_raw):
        where = f"rules[{index}]"
        if not isinstance(rule, dict):
            raise ScriptError(f"{where} must be an object with 'match' and 'steps'")
        extra = sorted(set(rule) - {"match", "steps"})
        if extra:
            raise ScriptError(f"{where} has unknown key {extra[0]!r}")
        match = _expect_str(rule.get("match"), f"{where}.match")
        try:
            pattern = re.compile(match)
        except re.error as error:
            raise ScriptError(f"{where}.match is not a valid regex ({error})") from None
        rules.append(Rule(pattern, _parse_steps(rule.get("steps"), f"{where}.steps")))
    require_token = raw.get("require_token")
    if require_token is not None:
        require_token = _expect_str(require_token, "require_token")
        if not require_token:
            raise ScriptError("require_token must not be empty")
    return Script(
        model=model,
        models=models,
        rules=tuple(rules),
        default=_parse_steps(raw.get("default", []), "default"),
        require_token=require_token,
        serve_models=_expect_bool(raw.get("serve_models", True), "serve_models"),
        usage=parse_usage(raw["usage"], "usage") if "usage" in raw else USAGE_UNSET,
    )


def load_script(path: str | Path) -> Script:
    """Read and validate a JSON script file; errors name the file (and line:col)."""
    try:
        # A regular file of sane size: a FIFO or a link to /dev/zero must not hang it.
        text = read_regular_file(Path(path), MAX_SCRIPT_BYTES).decode("utf-8")
    except UnreadableFile as error:
        problem = str(error)
        if ": cannot read (" in problem:
            raise ScriptError(
                problem.replace(": cannot read (", ": cannot read script (", 1)
            ) from None
        raise ScriptError(f"{problem}; the script must be a regular file") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: script is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScriptError(
            f"{path}:{error.lineno}:{error.colno}: invalid JSON ({error.msg})"
        ) from None
    except RecursionError:
        raise ScriptError(f"{path}: JSON nested too deeply") from None
    try:
        return parse_script(raw)
    except ScriptError as error:
        raise ScriptError(f"{path}: {error}") from None


def steps_for(script: Script, goal: str) -> tuple[Step, ...]:
    """The steps of the first rule matching the goal, else the default steps."""
    for rule in script.rules:
        if rule.pattern.search(goal):
            return rule.steps
    return script.default


def step_at(steps: tuple[Step, ...], turn: int) -> Step:
    """The step for a turn; past the end, a final answer so every run ends."""
    return steps[turn] if turn < len(steps) else EXHAUSTED_STEP


def usage_of(step: Step, script_usage: Usage = USAGE_UNSET) -> Usage:
    """The usage a reply reports: the step's, else the script's, else USAGE_UNSET."""
    return step.usage if step.usage != USAGE_UNSET else script_usage
