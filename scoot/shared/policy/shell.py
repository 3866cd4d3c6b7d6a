"""Shell command text as the denylist reads it: normalised, expanded, split into words and wrappers."""

from __future__ import annotations

import posixpath
import re

_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh"})


# Per interpreter, the options after which it runs code from an argument, not stdin.
_INTERPRETER_CODE_FLAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"-c", "-m"}),
    "perl": frozenset({"-e"}),
    "ruby": frozenset({"-e"}),
    "node": frozenset({"-e", "--eval", "-p", "--print"}),
    "nodejs": frozenset({"-e", "--eval", "-p", "--print"}),
    "php": frozenset({"-r"}),
    "lua": frozenset({"-e"}),
}


_CODE_RUNNERS = _SHELLS | frozenset(_INTERPRETER_CODE_FLAGS) | {"eval", "source", "."}


_FETCHERS = ("curl", "wget", "fetch", "aria2c", "http", "https")


# Wrappers that run the command after them (once their own options are skipped).
_PREFIX_COMMANDS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nice", "nohup", "time", "timeout"}
    | {"ionice", "stdbuf", "busybox", "chrt", "taskset", "setsid", "unbuffer", "xargs"}
)


# Their options that take a separate value (lower-cased, as normalised).
_PREFIX_OPTIONS_WITH_VALUE: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-c", "-d", "-h", "-p", "-r", "-t", "-a"}),
    "doas": frozenset({"-u", "-c"}),
    "env": frozenset({"-u", "-c"}),
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "xargs": frozenset({"-i", "-l", "-n", "-p", "-s", "-d", "-e", "-a"}),
    "timeout": frozenset({"-s", "-k"}),
}


# Prefixes that take one positional argument before the command.
_PREFIX_POSITIONAL = frozenset({"timeout", "chrt", "taskset"})


_SHELL_KEYWORDS = frozenset(
    {"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"}
)


_ASSIGNMENT = re.compile(r"[a-z_][a-z0-9_]*=\S*")


def normalise_command(command: str) -> str:
    """The command as the denylist reads it.

    Lower case, line continuations joined, quotes and backslashes removed,
    whitespace collapsed. Removing quotes is deliberately lossy: `r""m` and
    `"rm" -rf "/"` become `rm -rf /`, which is what the shell would run.
    """
    text = command.replace("\\\r\n", " ").replace("\\\n", " ").lower()
    text = re.sub(r"[\"'\\]", "", text)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


_RAW_ASSIGNMENT = re.compile(
    r"(?:^|(?<=[\s;&|(]))([A-Za-z_][A-Za-z0-9_]*)=(?:'([^']*)'|\"([^\"]*)\"|([^\s;&|()]*))"
)


_VARIABLE = re.compile(r"\$\{([a-z_][a-z0-9_]*)(?:(:?[-=?+])([^}]*))?\}|\$([a-z_][a-z0-9_]*)")


_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")


_BRACES = re.compile(r"\{([^{}\s]*,[^{}\s]*)\}")


# A target the gate cannot know: output of a command it cannot evaluate.
COMPUTED = "__computed__"


_SHELL_VARIABLES = {"shell": "sh", "bash": "bash", "home": "$home"}


def _raw_assignments(command: str) -> dict[str, str]:
    """`name=value` assignments in the command as written (quotes honoured), lower-cased."""
    found: dict[str, str] = {}
    for match in _RAW_ASSIGNMENT.finditer(command):
        value = next((g for g in match.groups()[1:] if g is not None), "")
        found[match.group(1).lower()] = re.sub(r"[\"'\\]", "", value.lower())
    return found


def _substitution_output(inner: str) -> str:
    """The likely output of `$(inner)`, or COMPUTED when it cannot be told."""
    words = inner.split()
    if not words:
        return ""
    name, rest = posixpath.basename(words[0]), words[1:]
    if name in ("echo", "printf"):
        return " ".join(w for w in rest if not (name == "echo" and w in ("-n", "-e")))
    if name == "pwd":
        return "."
    if name == "dirname" and rest:
        return rest[-1].rstrip("/") + "/.."
    if name == "mktemp":
        return "/tmp/__mktemp__"
    if name == "basename" and rest:
        return posixpath.basename(rest[0].rstrip("/")) or COMPUTED
    return COMPUTED


def expand_command(text: str, assignments: dict[str, str]) -> str:
    """Normalised `text` with substitutions, variables and braces expanded as sketched above."""
    for _ in range(8):
        replaced = _SUBSTITUTION.sub(
            lambda m: " " + _substitution_output(m.group(1) or m.group(2) or "") + " ", text
        )
        if replaced == text:
            break
        text = replaced

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        operator, default = match.group(2), match.group(3)
        if name in assignments and not (name in _SHELL_VARIABLES and name == "home"):
            return assignments[name]
        if name in _SHELL_VARIABLES:
            return _SHELL_VARIABLES[name]
        if operator in (":-", "-", ":=", "="):
            return default or ""
        return ""

    for _ in range(4):
        replaced = _VARIABLE.sub(variable, text)
        if replaced == text:
            break
        text = replaced
    for _ in range(4):
        replaced = _expand_braces(text)
        if replaced == text:
            break
        text = replaced
    return text


def _expand_braces(text: str) -> str:
    """One round of `pre{a,b}post` -> `prea preb` + post, word by word."""
    out: list[str] = []
    for word in re.split(r"(\s+)", text):
        match = _BRACES.search(word) if "{" in word and "," in word else None
        if match is None:
            out.append(word)
            continue
        pre, post = word[: match.start()], word[match.end() :]
        out.append(" ".join(pre + part + post for part in match.group(1).split(",")))
    return "".join(out)


def _command_words(segment: str) -> list[str]:
    """The segment's words from the real command name on (wrappers and assignments removed)."""
    return _command_words_and_wrappers(segment)[0]


def _command_words_and_wrappers(segment: str) -> tuple[list[str], set[str]]:
    """As `_command_words`, plus the names of the wrappers that were removed."""
    wrappers: set[str] = set()
    words = segment.split()
    while words:
        head = words[0]
        name = posixpath.basename(head) if "/" in head.rstrip("/") else head
        if head in _SHELL_KEYWORDS or _ASSIGNMENT.fullmatch(head):
            words = words[1:]
        elif name in _PREFIX_COMMANDS:
            wrappers.add(name)
            words = _skip_prefix_options(name, words[1:])
        else:
            return [name, *words[1:]], wrappers
    return [], wrappers


def _skip_prefix_options(prefix: str, rest: list[str]) -> list[str]:
    with_value = _PREFIX_OPTIONS_WITH_VALUE.get(prefix, frozenset())
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--":
            index += 1
            break
        if prefix == "env" and _ASSIGNMENT.fullmatch(word):
            index += 1
        elif word.startswith("-") and word != "-":
            index += 2 if word in with_value else 1
        else:
            break
    if prefix in _PREFIX_POSITIONAL:
        index += 1
    return rest[index:]


def _split_options(args: list[str]) -> tuple[list[str], list[str]]:
    """(options, operands); `--` ends options."""
    options: list[str] = []
    operands: list[str] = []
    ended = False
    for word in args:
        if not ended and word == "--":
            ended = True
        elif not ended and word.startswith("-") and word != "-":
            options.append(word)
        else:
            operands.append(word)
    return options, operands


def _has_flag(options: list[str], short: str, long_name: str) -> bool:
    """Whether a short flag letter or a (possibly abbreviated) GNU long option is present."""
    for option in options:
        if option.startswith("--"):
            name = option[2:].split("=", 1)[0]
            if name and long_name.startswith(name):
                return True
        elif short in option[1:]:
            return True
    return False
