"""The guarded shell denylist: catastrophic commands, typed plainly or with the usual disguises."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable

from scoot.shared.policy.command_rules import (
    _dd_rule,
    _disk_tool_rule,
    _file_writer_rule,
    _find_rule,
    _init_rule,
    _kill_rule,
    _mv_rule,
    _ownership_rule,
    _pkill_rule,
    _power_rule,
    _recursive_attribute_rule,
    _rm_rule,
    _rsync_rule,
    _Segment,
    _systemctl_rule,
)
from scoot.shared.policy.shell import (
    _CODE_RUNNERS,
    _FETCHERS,
    _INTERPRETER_CODE_FLAGS,
    _SHELLS,
    _command_words,
    _command_words_and_wrappers,
    _raw_assignments,
    _split_options,
    expand_command,
    normalise_command,
)
from scoot.shared.policy.targets import (
    _DISK_TOOLS,
    _FIND_FILTERS,
    _dangerous_target,
    _interpreter,
    _reads_code_from_stdin,
    _shell_command_string,
    _written_file_rule,
)

_POWER_COMMANDS = frozenset({"shutdown", "reboot", "halt", "poweroff"})


_SEGMENT_SEPARATOR = re.compile(r"(&&|\|\||\|&|;|\||\n|(?<![<>])&(?!>))")


# Matched with all whitespace removed: `:(){ :|:& };:` and `f(){ f | f & }; f`. Names are
# bounded so a long word costs linear time, not quadratic backtracking.
_FORK_BOMB = re.compile(
    r"(?:function)?([^\s(){}|;&]{1,64})(?:\(\))?\{\1\|\1&\};?\1|([^\s(){}|;&]{1,64})\(\)\{\2\|\2&\};?\2"
)


_FETCH_SUBSTITUTION = re.compile(r"(\$\(|<\(|`)\s*(\S*/)?(" + "|".join(_FETCHERS) + r")\b")


_REDIRECT_TARGET = re.compile(r">>?[|&]?\s*(/\S+)")


# Longer commands are refused: no person types one, and checking must stay cheap.
MAX_CHECKED_COMMAND_CHARS = 16 * 1024


def catastrophic_command(command: str) -> str | None:
    """The denylist rule `command` hits, as a short description, or None.

    Matched on the normalised text, one segment (split at ;, &&, ||, |, &,
    newline, subshells and command substitutions) at a time, with the
    command name taken after wrappers like sudo, env and nice and after its
    directory (/bin/rm -> rm). Commands are matched in command position only:
    `echo rm -rf /` merely prints, so it is allowed, while the same text run
    through `sh -c`, `eval` or a pipe into a shell is checked and denied.

    The text is checked twice: as written, and expanded the way the shell
    would most likely expand it (variables assigned in the command take
    their value, unset ones are empty, `${X:-/}` its default, `$(echo /)`
    its output, `{a,b}` both words). Code given to an interpreter with
    -c/-e is read for recursive deletes, fork loops and shell commands.
    """
    if len(command) > MAX_CHECKED_COMMAND_CHARS:
        return (
            f"command of {len(command)} characters is too long to check "
            f"(limit {MAX_CHECKED_COMMAND_CHARS}); write a script with file_write and run it"
        )
    rule = _interpreter_code_rule(command, depth=0)
    if rule is not None:
        return rule
    text = normalise_command(command)
    rule = _check_command_text(text, depth=0)
    if rule is not None:
        return rule
    expanded = expand_command(text, _raw_assignments(command))
    if expanded != text:
        return _check_command_text(expanded, depth=0)
    return None


_RECURSIVE_DELETE_CALL = re.compile(
    r"(rmtree|rm_rf|rm_r|remove_entry_secure|rmsync|rmdirsync|remove_tree|rimraf|removedirs)"
    r"\s*\(\s*([^,)]{0,200})",
    re.IGNORECASE,
)


_HOME_EXPRESSION = re.compile(
    r"expanduser|path\.home|homedir|environ\s*\[\s*.home|getenv\s*\(\s*.home|env\s*\[\s*.home",
    re.IGNORECASE,
)


_STRING_LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"|`([^`]*)`")


_CODE_LOOP = re.compile(r"\b(while|loop|for|until|iter)\b", re.IGNORECASE)


_CODE_SPAWN = re.compile(r"\b(fork|spawn|popen|exec\w*|system)\b", re.IGNORECASE)


def _interpreter_code_rule(command: str, *, depth: int) -> str | None:
    """The rule the code given to an interpreter (-c, -e, -r ...) in `command` breaks, or None."""
    if depth > 4:
        return None
    try:
        words = shlex.split(command, comments=False, posix=True)
    except ValueError:
        return None
    for index, word in enumerate(words[:-1]):
        name = posixpath.basename(word).lower()
        family = _interpreter(name)
        if family is None:
            continue
        flag = words[index + 1].lower()
        if family in _SHELLS:
            if flag.startswith("-") and "c" in flag[1:] and index + 2 < len(words):
                rule = _interpreter_code_rule(words[index + 2], depth=depth + 1)
                if rule is not None:
                    return rule
            continue
        code_flags = _INTERPRETER_CODE_FLAGS.get(family, frozenset())
        if flag.split("=", 1)[0] in code_flags - {"-m"} and index + 2 < len(words):
            rule = _code_rule(family, words[index + 2], depth)
            if rule is not None:
                return rule
    return None


def _code_rule(family: str, code: str, depth: int) -> str | None:
    for match in _RECURSIVE_DELETE_CALL.finditer(code):
        argument = match.group(2).strip()
        literal = argument.strip("'\"` ")
        if _HOME_EXPRESSION.search(argument) or (
            argument[:1] in "'\"" and _dangerous_target(literal)
        ):
            return f"recursive delete of {literal or argument} in {family} code"
    if re.search(r"\bkill\s*\(\s*-1\b", code):
        return f"killing every process in {family} code"
    if _CODE_LOOP.search(code) and _CODE_SPAWN.search(code):
        loops = [m.start() for m in _CODE_LOOP.finditer(code)]
        spawns = [m.start() for m in _CODE_SPAWN.finditer(code)]
        # A process started inside an endless-looking loop: `fork while 1`, `while(1){fork}`.
        if (
            loops
            and spawns
            and ("fork" in code.lower() or re.search(r"while\s*\(?\s*(1|true)", code, re.I))
        ):
            return f"fork loop in {family} code"
    for match in _STRING_LITERAL.finditer(code):
        literal = next(g for g in match.groups() if g is not None)
        if " " in literal:
            rule = _check_command_text(normalise_command(literal), depth=depth + 1)
            if rule is None:
                rule = _interpreter_code_rule(literal, depth=depth + 1)
            if rule is not None:
                return rule
    return None


def _check_command_text(text: str, *, depth: int) -> str | None:
    # Nesting beyond this (sh -c "sh -c ...") is refused rather than unwrapped forever.
    if depth > 4:
        return "too deeply nested shell commands to check"
    if "{" in text and _FORK_BOMB.search(re.sub(r"\s+", "", text)):
        return "fork bomb"
    if _FORK_LOOP.search(text):
        return "fork loop (an endless loop starting background processes)"
    runs_fetched_text = bool(_FETCH_SUBSTITUTION.search(text))
    # Subshells and command substitutions are commands of their own: split them out.
    flat = re.sub(r"\$\(|<\(|>\(|[()`]", " ; ", text)
    piped = False
    previous = ""
    for piece in _SEGMENT_SEPARATOR.split(flat):
        if _SEGMENT_SEPARATOR.fullmatch(piece):
            piped = piece in ("|", "|&")
            continue
        rule = _check_segment(
            piece.strip(),
            piped=piped,
            runs_fetched_text=runs_fetched_text,
            depth=depth,
            producer=previous if piped else "",
        )
        if rule is not None:
            return rule
        previous = piece.strip()
    return None


# `while true; do x & done`, `until false; ...`, `for ((;;)); ...` with `&` in the body.
_FORK_LOOP = re.compile(
    r"(?:\b(?:while|until)\s+(?:true|:|1|false|\[\s*1\s*\])\s*;?\s*do|\bfor\s*\(\(\s*;\s*;\s*\)\)\s*;?\s*do)"
    r"\b(?:(?!\bdone\b).)*?(?<![&>|])&(?![&>])",
    re.DOTALL,
)


def _producer_words(producer: str) -> list[str]:
    """What a piped producer (echo, printf, ls, find) likely writes, as words for xargs."""
    words = _command_words(producer)
    if not words:
        return []
    name, rest = words[0], [w for w in words[1:] if not w.startswith("-")]
    if name == "echo":
        return rest
    if name == "printf":
        # Backslashes are gone after normalising: `/\n` reads `/n`.
        return [*rest, *(re.sub(r"(?:n|t)+$", "", w) or w for w in rest)]
    if name == "find" and any(w in _FIND_FILTERS for w in words):
        return []  # a selection, not everything under the root
    if name in ("ls", "find") and rest:
        return [rest[0].rstrip("/") + "/*"]
    return []


def _check_segment(
    segment: str, *, piped: bool, runs_fetched_text: bool, depth: int, producer: str = ""
) -> str | None:
    if not segment:
        return None
    for redirect in _REDIRECT_TARGET.finditer(segment):
        rule = _written_file_rule(redirect.group(1))
        if rule is not None:
            return rule
    here_string = ""
    if "<<<" in segment:
        segment, here_string = (part.strip() for part in segment.split("<<<", 1))
    words, wrappers = _command_words_and_wrappers(segment)
    if not words:
        return None
    name, args = words[0], words[1:]
    if "xargs" in wrappers:
        # xargs appends what it reads to the command: check it as if written there.
        fed = here_string.split() if here_string else _producer_words(producer)
        args = [*args, *fed]
        if fed and any("{}" in a for a in args):
            args = [a.replace("{}", fed[0]) for a in args]
    options, operands = _split_options(args)
    command = _Segment(name, args, options, operands, here_string, piped, runs_fetched_text, depth)
    if name in _CODE_RUNNERS or _interpreter(name):
        return _code_runner_rule(command)
    if name.startswith("mkfs") or name in ("mke2fs", "wipefs"):
        return f"filesystem format ({name})"
    rule_of_command = _COMMAND_RULES.get(name)
    return rule_of_command(command) if rule_of_command is not None else None


def _code_runner_rule(c: _Segment) -> str | None:
    if c.runs_fetched_text:
        return f"pipe-to-shell: downloaded text run by {c.name}"
    if c.piped and _reads_code_from_stdin(c.name, c.args):
        return f"pipe-to-shell: piped text run by {c.name}"
    if c.here_string and _reads_code_from_stdin(c.name, c.args):
        rule = _check_command_text(c.here_string, depth=c.depth + 1)
        if rule is not None:
            return rule
    inner = _shell_command_string(c.args) if c.name in _SHELLS else None
    if c.name in ("eval", "source", "."):
        inner = " ".join(c.args)
    if inner:
        return _check_command_text(inner, depth=c.depth + 1)
    return None


def _su_rule(c: _Segment) -> str | None:
    for index, word in enumerate(c.args):
        if word in ("-c", "--command") or word.startswith("--command="):
            inner = " ".join(c.args[index + 1 :])
            if word.startswith("--command="):
                inner = " ".join([word.split("=", 1)[1], *c.args[index + 1 :]])
            return _check_command_text(inner, depth=c.depth + 1)
    return None


def _alias_rule(c: _Segment) -> str | None:
    # alias x='rm -rf /': the value runs whenever the name does.
    body = " ".join(c.args).split("=", 1)
    return _check_command_text(body[1], depth=c.depth + 1) if len(body) == 2 else None


# The rule of each command name the denylist knows; the names are disjoint.
_COMMAND_RULES: dict[str, Callable[[_Segment], str | None]] = {
    "su": _su_rule,
    "rm": _rm_rule,
    "alias": _alias_rule,
    **dict.fromkeys(_DISK_TOOLS, _disk_tool_rule),
    "dd": _dd_rule,
    **dict.fromkeys(("tee", "shred", "cp", "truncate", "install"), _file_writer_rule),
    "rsync": _rsync_rule,
    **dict.fromkeys(("chattr", "setfacl"), _recursive_attribute_rule),
    **dict.fromkeys(("pkill", "killall"), _pkill_rule),
    "killall5": lambda _c: "killing every process (killall5)",
    **dict.fromkeys(_POWER_COMMANDS, _power_rule),
    **dict.fromkeys(("init", "telinit"), _init_rule),
    "systemctl": _systemctl_rule,
    **dict.fromkeys(("chmod", "chown", "chgrp"), _ownership_rule),
    "mv": _mv_rule,
    "find": _find_rule,
    "kill": _kill_rule,
}
