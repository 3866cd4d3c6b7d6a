"""What a denylisted command acts on: system directories, the home directory, root, system files, every process."""

from __future__ import annotations

import os
import posixpath
import re

from scoot.shared.policy.shell import _INTERPRETER_CODE_FLAGS, _SHELLS, COMPUTED

_SYSTEM_DIRS = frozenset(
    {"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt"}
    | {"/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/snap", "/mnt"}
    | {"/media"}
)


_HOME_FORMS = ("~", "$home", "${home}")


_CWD_EVERYTHING = frozenset({"*", ".", "./", "./*", "..", "../", "../*", ".*", "./.*"})


_HARMLESS_DEVICE = re.compile(
    r"/dev/(null|zero|full|random|urandom|stdout|stderr|stdin|tty|fd/\d+|pts/\d+|shm/\S*)"
)


_HOME_SENTINEL = "/__home__"


def _system_target(word: str) -> bool:
    """/, a top-level system directory (or everything in one), the home directory (or
    above it), a wildcard at the top level, or a target computed by a command."""
    if COMPUTED in word:
        return True
    for home in sorted(_HOME_FORMS, key=len, reverse=True):
        if word == home or word.startswith(home + "/"):
            word = _HOME_SENTINEL + word[len(home) :]
            break
    real_home = os.environ.get("HOME", "").lower().rstrip("/")
    if real_home and real_home != "/" and (word == real_home or word.startswith(real_home + "/")):
        word = _HOME_SENTINEL + word[len(real_home) :]
    if not word.startswith("/"):
        return False
    collapsed = re.sub(r"/+", "/", word)
    first = collapsed[1:].split("/", 1)[0]
    if any(ch in first for ch in "*?["):
        return True
    while collapsed.endswith(("/*", "/.*", "/")) and collapsed != "/":
        collapsed = collapsed.rsplit("/", 1)[0] or "/"
    normalised = posixpath.normpath(collapsed)
    if normalised == _HOME_SENTINEL:
        return True
    return normalised == "/" or normalised in _SYSTEM_DIRS


def _dangerous_target(word: str) -> bool:
    """A system target, or everything in (or above) the working directory."""
    if word in _CWD_EVERYTHING or _system_target(word):
        return True
    if word.startswith("/") or not word:
        return False
    trimmed = word[:-2] if word.endswith("/*") else word
    return all(part in ("", ".", "..") for part in posixpath.normpath(trimmed).split("/"))


def _is_root(word: str) -> bool:
    collapsed = re.sub(r"/+", "/", word)
    if collapsed in ("/*", "/.*"):
        return True
    return collapsed.startswith("/") and posixpath.normpath(collapsed) == "/"


def _interpreter(name: str) -> str | None:
    """The interpreter family of a command name (python3.11 -> python), or None."""
    if name in _SHELLS:
        return name
    family = re.sub(r"[0-9.]+$", "", name)
    return family if family in _INTERPRETER_CODE_FLAGS else None


def _shell_command_string(args: list[str]) -> str | None:
    """The text after a shell's -c option (quotes already gone), or None without -c."""
    for index, word in enumerate(args):
        if not word.startswith("-") or word.startswith("--"):
            if word.startswith("--"):
                continue
            return None
        if "c" in word[1:]:
            return " ".join(args[index + 1 :])
    return None


def _reads_code_from_stdin(name: str, args: list[str]) -> bool:
    """Whether a shell or interpreter would run its standard input as code."""
    family = _interpreter(name)
    if family is None:
        return False
    code_flags = _INTERPRETER_CODE_FLAGS.get(family, frozenset())
    skip_value = False
    for word in args:
        if skip_value:
            skip_value = False
            continue
        if word == "-":
            return True
        if word == "--":
            continue
        if word.startswith("-") or (family in _SHELLS and word.startswith("+")):
            if family in _SHELLS and not word.startswith("--"):
                if "c" in word[1:]:
                    return False
                if "s" in word[1:]:
                    return True
                skip_value = "o" in word[1:]
            elif word.split("=", 1)[0] in code_flags:
                return False
            continue
        return False  # a script file
    return True


_SYSTEM_FILE_DIRS = ("/etc/", "/boot/", "/bin/", "/sbin/", "/usr/", "/lib", "/proc/sys/", "/sys/")


def _written_file_rule(path: str) -> str | None:
    """The rule a write to `path` breaks: a block device, the sysrq trigger, a system file."""
    if path.startswith("/"):
        path = posixpath.normpath(re.sub(r"/+", "/", path))
    if path.startswith("/proc/sysrq-trigger"):
        return "power state change (/proc/sysrq-trigger)"
    if path.startswith("/dev/") and not _HARMLESS_DEVICE.fullmatch(path):
        return f"write to a device ({path})"
    if path.startswith(_SYSTEM_FILE_DIRS):
        return f"overwriting a system file ({path})"
    return None


# Tools that rewrite partition tables or discard a whole device.
_DISK_TOOLS = frozenset(
    {"blkdiscard", "sgdisk", "sfdisk", "fdisk", "cfdisk", "parted", "gdisk", "mkswap", "hdparm"}
)


# Their options that take a value: pkill/pgrep, killall.
_PKILL_OPTIONS_WITH_VALUE = frozenset(
    {"-u", "-U", "-g", "-G", "-P", "-s", "-t", "--euid", "--uid", "--pgroup", "--group"}
    | {"--parent", "--session", "--terminal", "--signal", "--ns", "--nslist"}
)


_MATCH_ALL_PATTERNS = frozenset({".", ".*", ".+", "^", "$", "^.*", "^.*$", ""})


_FIND_FILTERS = frozenset(
    {"-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-newer", "-mtime", "-mmin"}
    | {"-atime", "-ctime", "-size", "-type", "-user", "-group", "-perm", "-empty", "-inum"}
    | {"-links", "-wholename", "-iwholename", "-samefile", "-lname", "-ilname"}
)


_FIND_DELETERS = ("-delete",)


_FIND_DELETE_COMMANDS = frozenset({"rm", "shred", "unlink", "rmdir", "truncate"})


def _kill_matches_everything(name: str, args: list[str]) -> bool:
    """pkill/killall with no pattern but a user/group selector, or a match-all pattern."""
    selectors = False
    patterns: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word in _PKILL_OPTIONS_WITH_VALUE or (name == "killall" and word in ("-u", "--user")):
            selectors = selectors or word not in ("-s", "--signal")
            index += 2
            continue
        if word.startswith("-") and word != "-":
            index += 1
            continue
        patterns.append(word)
        index += 1
    if not patterns:
        return selectors or name == "pkill"
    return any(p in _MATCH_ALL_PATTERNS for p in patterns)
