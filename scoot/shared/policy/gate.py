"""The action gate: one decision for one action under one mode."""

from __future__ import annotations

from scoot.shared.actions import ACTIONS, ActionInputError, ParsedAction, parse_input
from scoot.shared.policy.addresses import url_problem
from scoot.shared.policy.denylist import catastrophic_command
from scoot.shared.policy.modes import GUARDED, READONLY, UNRESTRICTED, Decision, _unknown_mode_text
from scoot.shared.policy.paths import (
    NO_PROTECTED_PATHS,
    ProtectedPaths,
    command_protected_problem,
    confined_path_problem,
    protected_path_problem,
)


def explain(
    action: str,
    action_input: str,
    mode: str,
    *,
    cwd: str,
    confine_writes: bool = True,
    block_internal_http: bool = True,
    protected: ProtectedPaths = NO_PROTECTED_PATHS,
) -> Decision:
    """Parse and decide in one step, for `scoot policy check`; parse errors deny."""
    try:
        parsed = parse_input(action, action_input)
    except ActionInputError as exc:
        return Decision(False, str(exc))
    return decide(
        parsed,
        mode,
        cwd=cwd,
        confine_writes=confine_writes,
        block_internal_http=block_internal_http,
        protected=protected,
    )


def decide(
    parsed: ParsedAction,
    mode: str,
    *,
    cwd: str,
    confine_writes: bool = True,
    block_internal_http: bool = True,
    protected: ProtectedPaths = NO_PROTECTED_PATHS,
) -> Decision:
    """Whether `parsed` may run under `mode` in `cwd`; an unknown mode acts as readonly.

    Outside unrestricted, `protected` (the runtime directory and the config
    file) is off limits to every tool, for reads and writes.
    """
    capability = parsed.capability
    if capability == "final":
        return Decision(True, "final answer is always allowed")
    if mode == UNRESTRICTED:
        return Decision(True, "unrestricted mode allows every action")
    if mode == GUARDED:
        return _decide_guarded(parsed, cwd, confine_writes, block_internal_http, protected)
    decision = _decide_readonly(parsed, cwd, protected)
    if mode != READONLY:
        return Decision(
            decision.allowed, f"{_unknown_mode_text(mode)} acts as readonly: {decision.reason}"
        )
    return decision


def _decide_readonly(parsed: ParsedAction, cwd: str, protected: ProtectedPaths) -> Decision:
    capability = parsed.capability
    if capability == "exec":
        return Decision(False, "bash is not allowed in readonly mode")
    if capability == "write":
        return Decision(False, f"{parsed.action} is not allowed in readonly mode (writes)")
    if capability in ("net_read", "net_write"):
        return Decision(False, "http_request is not allowed in readonly mode (no network)")
    if capability != "read":
        return Decision(False, f"capability {capability!r} is not allowed in readonly mode")
    path = _path_argument(parsed)
    if path is None:
        return Decision(False, f"{parsed.action} has no path to check")
    problem = confined_path_problem(path, cwd, pattern=parsed.action == "glob", protected=protected)
    if problem is not None:
        return Decision(False, f"readonly reads stay inside the working directory: {problem}")
    return Decision(True, "read inside the working directory")


def _decide_guarded(
    parsed: ParsedAction,
    cwd: str,
    confine_writes: bool,
    block_internal_http: bool,
    protected: ProtectedPaths,
) -> Decision:
    capability = parsed.capability
    if capability == "exec":
        command = parsed.args.get("command")
        if not isinstance(command, str):
            return Decision(False, "bash has no command string")
        rule = catastrophic_command(command)
        if rule is not None:
            return Decision(False, f"denied by the guarded denylist: {rule}")
        problem = command_protected_problem(command, cwd, protected)
        if problem is not None:
            return Decision(False, f"bash names a protected path: {problem}")
        return Decision(True, "bash allowed in guarded mode (no catastrophic pattern)")
    path = _path_argument(parsed)
    if capability in ("read", "write") and path is not None:
        problem = protected_path_problem(path, cwd, protected, pattern=parsed.action == "glob")
        if problem is not None:
            return Decision(False, problem)
    if capability == "read":
        return Decision(True, "reads are allowed in guarded mode")
    if capability == "write":
        if not confine_writes:
            return Decision(True, "writes allowed (confine_writes is off)")
        if path is None:
            return Decision(False, f"{parsed.action} has no path to check")
        problem = confined_path_problem(path, cwd, protected=protected)
        if problem is not None:
            return Decision(False, f"writes are confined to the working directory: {problem}")
        return Decision(True, "write inside the working directory")
    if capability in ("net_read", "net_write"):
        url = parsed.args.get("url")
        if not isinstance(url, str):
            return Decision(False, "http_request has no URL")
        problem = url_problem(url, block_internal=block_internal_http)
        if problem is not None:
            return Decision(False, problem)
        kind = "read" if capability == "net_read" else "write"
        return Decision(True, f"network {kind} allowed in guarded mode")
    return Decision(False, f"unknown capability {capability!r}")


def _path_argument(parsed: ParsedAction) -> str | None:
    spec = ACTIONS.get(parsed.action)
    if spec is None or spec.path_arg is None:
        return None
    value = parsed.args.get(spec.path_arg)
    return value if isinstance(value, str) else None
