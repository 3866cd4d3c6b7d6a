"""The denylist's rule for each command that acts on files, devices, processes or power."""

from __future__ import annotations

import posixpath

from scoot.shared.policy.shell import _has_flag
from scoot.shared.policy.targets import (
    _FIND_DELETE_COMMANDS,
    _FIND_DELETERS,
    _FIND_FILTERS,
    _dangerous_target,
    _is_root,
    _kill_matches_everything,
    _system_target,
    _written_file_rule,
)
from scoot.shared.value_class import value_class

_SYSTEMCTL_POWER = frozenset(
    {"poweroff", "reboot", "halt", "suspend", "hibernate", "hybrid-sleep", "kexec"}
    | {"suspend-then-hibernate"}
)


@value_class
class _Segment:
    """One simple command of a segment, its wrappers peeled and its words split."""

    name: str
    args: list[str]
    options: list[str]
    operands: list[str]
    here_string: str
    piped: bool
    runs_fetched_text: bool
    depth: int


def _rm_rule(c: _Segment) -> str | None:
    if _has_flag(c.options, "r", "recursive") or _has_flag(c.options, "f", "force"):
        for target in c.operands:
            if _dangerous_target(target):
                return f"recursive/forced delete of {target}"
    return None


def _disk_tool_rule(c: _Segment) -> str | None:
    if any(_written_file_rule(w) for w in c.operands):
        return f"partitioning or discarding a device ({c.name})"
    return None


def _dd_rule(c: _Segment) -> str | None:
    for word in c.args:
        if word.startswith("of="):
            rule = _written_file_rule(word[3:])
            if rule is not None:
                return f"dd onto a device ({word})" if "device" in rule else f"dd: {rule}"
    return None


def _file_writer_rule(c: _Segment) -> str | None:
    # cp and install write only their last operand; the others write each one.
    for word in c.operands[-1:] if c.name in ("cp", "install") else c.operands:
        rule = _written_file_rule(word)
        if rule is not None:
            return f"{c.name}: {rule}"
    return None


def _rsync_rule(c: _Segment) -> str | None:
    deletes = any(o.startswith("--del") for o in c.options)
    if deletes and c.operands and _dangerous_target(c.operands[-1]):
        return f"rsync --delete onto {c.operands[-1]}"
    return None


def _recursive_attribute_rule(c: _Segment) -> str | None:
    if _has_flag(c.options, "r", "recursive"):
        for target in c.operands:
            if _dangerous_target(target):
                return f"recursive {c.name} of {target}"
    return None


def _pkill_rule(c: _Segment) -> str | None:
    if _kill_matches_everything(c.name, c.args):
        return f"killing every process of a user ({c.name} {' '.join(c.args)})".strip()
    return None


def _power_rule(c: _Segment) -> str | None:
    return f"power state change ({c.name})"


def _init_rule(c: _Segment) -> str | None:
    if c.operands[:1] in (["0"], ["6"]):
        return f"power state change ({c.name} {c.operands[0]})"
    return None


def _systemctl_rule(c: _Segment) -> str | None:
    if c.operands[:1] and c.operands[0] in _SYSTEMCTL_POWER:
        return f"power state change (systemctl {c.operands[0]})"
    return None


def _ownership_rule(c: _Segment) -> str | None:
    recursive = _has_flag(c.options, "r", "recursive")
    # The first operand is the mode or owner, unless --reference gives it.
    by_reference = any(o.startswith("--reference") for o in c.options)
    for target in c.operands if by_reference else c.operands[1:]:
        if _is_root(target) or (recursive and _dangerous_target(target)):
            return f"{'recursive ' if recursive else ''}{c.name} of {target}"
    return None


def _mv_rule(c: _Segment) -> str | None:
    for source in c.operands[:-1]:
        if _system_target(source):
            return f"moving {source} away"
    return None


def _find_rule(c: _Segment) -> str | None:
    if not c.operands[:1]:
        return None
    root, args = c.operands[0], c.args
    deletes = any(a in _FIND_DELETERS for a in args) or any(
        a in ("-exec", "-execdir", "-ok", "-okdir")
        and i + 1 < len(args)
        and posixpath.basename(args[i + 1]) in _FIND_DELETE_COMMANDS
        for i, a in enumerate(args)
    )
    if deletes and _system_target(root):
        return f"find deleting under {root}"
    if deletes and _dangerous_target(root) and not any(a in _FIND_FILTERS for a in args):
        return f"find deleting everything under {root}"
    return None


def _kill_rule(c: _Segment) -> str | None:
    if "1" in c.operands or "-1" in c.args:
        return "killing every process (kill -1, or pid 1)"
    return None
