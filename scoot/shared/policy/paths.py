"""Protected paths, sensitive file names and the confinement of paths under the working directory."""

from __future__ import annotations

import glob
import os
import posixpath
import re

from scoot.shared.value_class import value_class


@value_class
class ProtectedPaths:
    """Paths no tool may touch outside unrestricted: the runtime directory, the config file.

    `allowed` are the carve-outs inside them that a run owns (its scratch
    directory, its workspace under `<home>/work/`). All paths absolute and
    already resolved (the parent resolves them when it builds the run spec).
    """

    paths: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    def problem(self, real_path: str) -> str | None:
        """Why the resolved absolute `real_path` is off limits, or None."""
        if any(_within(real_path, place) for place in self.allowed):
            return None
        for place in self.paths:
            if _within(real_path, place):
                return f"{place} is scoot's own (runtime directory or config) and off limits"
        return None


NO_PROTECTED_PATHS = ProtectedPaths()


def _within(path: str, place: str) -> bool:
    """`path` is `place` or lies below it (both absolute, normalised)."""
    return path == place or path.startswith(place.rstrip("/") + "/")


_SENSITIVE_EXACT = frozenset(
    {
        ".ssh",
        ".netrc",
        "_netrc",
        ".pgpass",
        ".aws",
        ".azure",
        "gcloud",
        ".gnupg",
        ".docker",
        ".dockercfg",
        ".kube",
        "kubeconfig",
        ".npmrc",
        ".yarnrc",
        ".pypirc",
        ".gem",
        ".htpasswd",
        ".password-store",
        ".envrc",
        ".my.cnf",
        ".mylogin.cnf",
        ".boto",
        ".s3cfg",
        ".terraformrc",
        ".gitcookies",
        ".git-credentials",
        ".bash_history",
        ".zsh_history",
        ".psql_history",
        ".mysql_history",
        ".python_history",
        "shadow",
        "gshadow",
    }
)


_SENSITIVE_PREFIXES = ("id_rsa", "id_ed25519", "id_ecdsa", "id_dsa", "id_xmss")


# api_key, api-key, apikey; client_secret, .vault-token, credentials.json, passwords.txt.
_SENSITIVE_SUBSTRINGS = (
    "secret",
    "token",
    "credential",
    "api_key",
    "api-key",
    "apikey",
    "password",
    "passwd",
    "private_key",
    "private-key",
)


# Private keys, keystores, password databases and env files.
_SENSITIVE_SUFFIXES = (
    ".pem",
    ".key",
    ".p12",
    ".pfx",
    ".p8",
    ".ppk",
    ".keystore",
    ".jks",
    ".kdbx",
    ".ovpn",
    ".env",
    ".tfstate",
    ".tfvars",
)


_EXPANSION = re.compile(r"\$|`")


def sensitive_name(component: str) -> bool:
    """True when one path component names a credential-bearing file or directory."""
    name = component.lower()
    if name == ".env" or name.startswith((".env.", ".env-", ".env_")):
        return True
    if name in _SENSITIVE_EXACT or name.startswith(_SENSITIVE_PREFIXES):
        return True
    if any(part in name for part in _SENSITIVE_SUBSTRINGS):
        return True
    return name.endswith(_SENSITIVE_SUFFIXES)


def confined_path_problem(
    path: str,
    cwd: str,
    *,
    pattern: bool = False,
    protected: ProtectedPaths = NO_PROTECTED_PATHS,
) -> str | None:
    """Why `path` escapes `cwd`, or None when it stays inside.

    Lexical rules first (relative only, no `..`, no `~` or `$` expansion
    syntax, no sensitive names), then symlinks are resolved so a link inside
    `cwd` that points elsewhere, at a sensitive name or into a protected
    path, is refused too. A file path is resolved whole, whatever characters
    its names hold; only a glob `pattern` is resolved up to its first
    wildcard, and the glob tool then checks every match (`match_problem`).
    """
    if not path or "\x00" in path:
        return "empty or invalid path"
    if path.startswith("/"):
        return f"absolute path {path!r} (use a path relative to the working directory)"
    if _EXPANSION.search(path):
        return f"{path!r} uses shell expansion syntax ($ or `); paths are taken literally"
    raw_parts = [part for part in path.split("/") if part]
    if any(part.startswith("~") for part in raw_parts):
        return f"{path!r} uses ~ (home directory); use a path relative to the working directory"
    for part in raw_parts:
        if sensitive_name(part):
            return f"{path!r} names a sensitive file ({part})"
    normalised = posixpath.normpath(path)
    if normalised == ".." or normalised.startswith("../"):
        return f"{path!r} leaves the working directory (..)"
    # Resolve the path as written: the kernel applies `..` after following a
    # symlink (link/../x is beside the link's target), lexical normpath does not.
    resolved = _resolve_under(cwd, _literal_prefix(path) if pattern else path)
    if resolved is None:
        return f"{path!r} resolves outside the working directory (symlink)"
    for part in resolved.split("/"):
        if part and sensitive_name(part):
            return f"{path!r} resolves to a sensitive file ({part})"
    real = os.path.join(os.path.realpath(cwd), resolved).rstrip("/")
    problem = protected.problem(real or "/")
    if problem is not None:
        return f"{path!r}: {problem}"
    return None


def match_problem(root: str, match: str, protected: ProtectedPaths) -> str | None:
    """Why one glob match (a path under the real `root`) must not be shown, or None.

    The same rules as for a file path, applied to the match as found and as
    resolved: inside `root`, no sensitive name, nothing protected.
    """
    try:
        real = os.path.realpath(match)
    except (OSError, ValueError):
        return "cannot be resolved"
    if not _within(real, root):
        return "resolves outside the working directory"
    relative = posixpath.relpath(match, root)
    for part in [*relative.split("/"), *real[len(root) :].split("/")]:
        if part and sensitive_name(part):
            return f"names a sensitive file ({part})"
    return protected.problem(real)


def protected_path_problem(
    path: str, cwd: str, protected: ProtectedPaths, *, pattern: bool = False
) -> str | None:
    """Why `path` (absolute or relative to `cwd`) reaches a protected path, or None."""
    if not protected.paths:
        return None
    if "\x00" in path:
        return "empty or invalid path"
    target = _literal_prefix(path) if pattern else path
    expanded = os.path.expanduser(target) if target.startswith("~") else target
    try:
        real = os.path.realpath(os.path.join(cwd, expanded))
    except (OSError, ValueError):
        return f"{path!r} cannot be resolved"
    problem = protected.problem(real)
    return None if problem is None else f"{path!r}: {problem}"


def _glob_prefix_matches(word: str, cwd: str) -> list[str]:
    """What each leading part of `word` up to a wildcard component matches (bounded)."""
    parts = word.split("/")
    found: list[str] = []
    for end, part in enumerate(parts, start=1):
        if any(ch in part for ch in "*?["):
            found += glob.glob(os.path.join(cwd, "/".join(parts[:end]) or "/"))[:200]
    return found


# Characters that separate words for the shell (quotes already removed).
_SHELL_WORD_BREAK = re.compile(r"[\s;&|<>()`=,{}]+|\$\(")


def command_protected_problem(command: str, cwd: str, protected: ProtectedPaths) -> str | None:
    """Why a shell command names a protected path, or None.

    Every word that could be a path is resolved against `cwd` (`~` and
    `$HOME` expanded, a glob expanded against the filesystem), so
    `cat .scoot/config.toml`, `cd ~/.sc*` and `vi $HOME/.scoot/token` are
    caught. A first layer only: a path computed at run time is not seen.
    """
    if not protected.paths:
        return None
    text = re.sub(r"[\"'\\]", "", command.replace("\\\n", ""))
    home = os.environ.get("HOME", "")
    text = re.sub(r"\$\{?HOME\}?", home.replace("\\", "/"), text)
    words = [w for w in _SHELL_WORD_BREAK.split(text) if w and w not in ("-", "--")]
    for word in words:
        word = word.split("=", 1)[-1] if word.startswith("-") else word
        if not word or word.startswith("-") or "\x00" in word:
            continue
        expanded = os.path.expanduser(word) if word.startswith("~") else word
        candidates = [expanded, *_glob_prefix_matches(expanded, cwd)]
        for candidate in candidates:
            try:
                real = os.path.realpath(os.path.join(cwd, candidate))
            except (OSError, ValueError):
                continue
            problem = protected.problem(real)
            if problem is not None:
                return f"{word!r}: {problem}"
    return None


def _literal_prefix(pattern: str) -> str:
    """The leading components of a glob pattern that contain no wildcard."""
    literal: list[str] = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        literal.append(part)
    return "/".join(literal) or "."


def _resolve_under(cwd: str, relative: str) -> str | None:
    """`relative` resolved through symlinks, relative to real `cwd`; None if outside.

    The gate's only filesystem access. The check and the later open are not
    atomic; the kernel layer closes that gap for readonly runs.
    """
    try:
        root = os.path.realpath(cwd)
        target = os.path.realpath(os.path.join(root, relative))
    except (OSError, ValueError):
        return None
    if target == root:
        return ""
    if not target.startswith(root.rstrip("/") + "/"):
        return None
    return target[len(root.rstrip("/")) + 1 :]
