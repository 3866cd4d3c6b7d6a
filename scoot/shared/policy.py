"""The policy model: modes, the unattended mode lattice and the action gate.

Pure decisions, imported by the parent (`scoot policy check`, `schedule
list`) and by every worker, so standard library only. The one impure step,
resolving symlinks of a path under the working directory, lives in
`_resolve_under` alone.

The gate is the first layer, not a sandbox: the guarded denylist catches
catastrophic commands typed plainly or with the usual disguises (wrappers,
quoting, variables assigned in the same command, simple substitutions,
interpreter one-liners), but a shell can always build a command the gate
cannot see (text read from a file, scripts written earlier). That is why
unattended runs never use guarded, and why the kernel layer enforces.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import posixpath
import re
import shlex
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from scoot.shared.actions import ACTIONS, ActionInputError, ParsedAction, parse_input

UNRESTRICTED = "unrestricted"
GUARDED = "guarded"
READONLY = "readonly"
# Least to most restrictive.
MODES: tuple[str, ...] = (UNRESTRICTED, GUARDED, READONLY)

_READONLY_ACTIONS = ("file_read", "grep", "glob", "final")
_ALL_ACTIONS = tuple(ACTIONS)


def is_known_mode(mode: object) -> bool:
    """True for the exact (lower-case) names in MODES."""
    return isinstance(mode, str) and mode in MODES


def stricter(a: str, b: str) -> str:
    """The more restrictive of two modes; an unknown mode counts as readonly."""
    rank_a = MODES.index(a) if is_known_mode(a) else MODES.index(READONLY)
    rank_b = MODES.index(b) if is_known_mode(b) else MODES.index(READONLY)
    return MODES[max(rank_a, rank_b)]


@dataclass(frozen=True)
class ModeResolution:
    """The mode an unattended run gets, and why."""

    requested: str | None
    effective: str
    coerced: bool
    reason: str
    warning: str | None


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one action; `reason` is given for allows too."""

    allowed: bool
    reason: str


@dataclass(frozen=True)
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


UNRESTRICTED_WARNING = (
    "mode unrestricted: this unattended run may write files, run any command "
    "and use the network (explicit opt-in)"
)


def _unknown_mode_text(mode: object) -> str:
    return f"unknown mode {mode!r} (expected one of: {', '.join(reversed(MODES))})"


def effective_unattended_mode(
    requested: str | None, *, ceiling: str | None = None
) -> ModeResolution:
    """Resolve the mode of an unattended run (a scheduled job, `-e --unattended`).

    Missing -> readonly; guarded -> readonly (coerced); readonly stays;
    unrestricted stays, with a warning, because it is an explicit opt-in; an
    unknown value never loosens: readonly, coerced, warned. A `ceiling` then
    clamps to the stricter of the two (an unknown ceiling counts as readonly).
    """
    warnings: list[str] = []
    coerced = False
    if requested is None or requested == "":
        effective, reason = READONLY, "no mode set; unattended runs default to readonly"
    elif requested == GUARDED:
        effective, coerced = READONLY, True
        reason = "guarded is coerced to readonly for unattended runs"
    elif requested == READONLY:
        effective, reason = READONLY, "readonly as requested"
    elif requested == UNRESTRICTED:
        effective, reason = UNRESTRICTED, "unrestricted as explicitly requested"
        warnings.append(UNRESTRICTED_WARNING)
    else:
        effective, coerced = READONLY, True
        reason = f"{_unknown_mode_text(requested)} is treated as readonly"
        warnings.append(f"{_unknown_mode_text(requested)}; using readonly")

    if ceiling is not None:
        if not is_known_mode(ceiling):
            warnings.append(f"ceiling {_unknown_mode_text(ceiling)}; using readonly as ceiling")
        clamped = stricter(effective, ceiling)
        if clamped != effective:
            reason = f"{reason}; clamped to {clamped} by the configured ceiling"
            effective, coerced = clamped, True
            # The opt-in no longer applies once the ceiling has removed it.
            warnings = [w for w in warnings if w != UNRESTRICTED_WARNING]

    return ModeResolution(
        requested=requested,
        effective=effective,
        coerced=coerced,
        reason=reason,
        warning="; ".join(warnings) or None,
    )


def allowed_actions(mode: str) -> list[str]:
    """The actions `mode` may use, for the system prompt (unknown mode -> readonly's)."""
    if mode in (GUARDED, UNRESTRICTED):
        return list(_ALL_ACTIONS)
    return list(_READONLY_ACTIONS)


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


# --- path confinement -------------------------------------------------------

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


# --- internal addresses -----------------------------------------------------

_INTERNAL_HOSTNAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_internal_address(ip: IPAddress | str) -> bool:
    """True for addresses an agent must not reach when internal HTTP is blocked.

    Loopback, private (RFC 1918, fc00::/7), link-local (including the cloud
    metadata address 169.254.169.254), unspecified, shared (100.64/10),
    reserved and multicast, and IPv6 forms that embed such an IPv4 address.
    A string that is not an address counts as internal (fail closed).
    """
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None and is_internal_address(embedded):
            return True
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_reserved
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host denotes literally, or None for a hostname.

    Besides dotted quads and IPv6, accepts the forms the C resolver's
    inet_aton accepts and so would connect to: one to four parts, each
    decimal, hex (0x..) or octal (leading 0), e.g. 2130706433, 0x7f000001,
    0177.0.0.1, 127.1.
    """
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        pass
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _inet_aton_part(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = 0
    for value in leading:
        number = (number << 8) | value
    number = (number << (8 * (4 - len(leading)))) | last
    return ipaddress.IPv4Address(number)


def _inet_aton_part(part: str) -> int | None:
    if not part:
        return None
    try:
        if part.startswith("0x"):
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def internal_host_problem(host: str) -> str | None:
    """Why `host` (from a URL) is internal, without DNS; None when it looks public.

    Hostnames are not resolved here: the gate stays pure, and a check-time
    lookup proves nothing about connect time (DNS rebinding). The
    http_request tool re-checks the resolved address when it connects, and
    the kernel layer limits readonly runs' connections anyway.
    """
    # The resolver's IDNA step folds full-width digits and ideographic dots to ASCII.
    name = unicodedata.normalize("NFKC", host).replace("\u3002", ".").strip().lower().rstrip(".")
    if name in _INTERNAL_HOSTNAMES or name.endswith(".localhost"):
        return f"host {host!r} is internal"
    ip = parse_ip_literal(name)
    if ip is not None and is_internal_address(ip):
        return f"address {ip} ({host}) is internal (loopback, private, link-local or metadata)"
    return None


def url_problem(url: str, *, block_internal: bool) -> str | None:
    """Why the gate refuses `url`, or None: http(s) only, internal hosts when blocked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"malformed URL {url[:80]!r}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http and https URLs are allowed, got {parts.scheme or 'none'!r}"
    if not host:
        return f"URL {url[:80]!r} has no host"
    if block_internal:
        problem = internal_host_problem(host)
        if problem is not None:
            return f"{problem}; block_internal_http is on"
    return None


# --- guarded denylist -------------------------------------------------------

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
_POWER_COMMANDS = frozenset({"shutdown", "reboot", "halt", "poweroff"})
_SYSTEMCTL_POWER = frozenset(
    {"poweroff", "reboot", "halt", "suspend", "hibernate", "hybrid-sleep", "kexec"}
    | {"suspend-then-hibernate"}
)
_SEGMENT_SEPARATOR = re.compile(r"(&&|\|\||\|&|;|\||\n|(?<![<>])&(?!>))")
# Matched with all whitespace removed: `:(){ :|:& };:` and `f(){ f | f & }; f`. Names are
# bounded so a long word costs linear time, not quadratic backtracking.
_FORK_BOMB = re.compile(
    r"(?:function)?([^\s(){}|;&]{1,64})(?:\(\))?\{\1\|\1&\};?\1|([^\s(){}|;&]{1,64})\(\)\{\2\|\2&\};?\2"
)
_FETCH_SUBSTITUTION = re.compile(r"(\$\(|<\(|`)\s*(\S*/)?(" + "|".join(_FETCHERS) + r")\b")
_REDIRECT_TARGET = re.compile(r">>?[|&]?\s*(/\S+)")


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


# --- expansion: what the shell would most likely make of the text -----------

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


# --- interpreter code -------------------------------------------------------

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

    if name in _CODE_RUNNERS or _interpreter(name):
        if runs_fetched_text:
            return f"pipe-to-shell: downloaded text run by {name}"
        if piped and _reads_code_from_stdin(name, args):
            return f"pipe-to-shell: piped text run by {name}"
        if here_string and _reads_code_from_stdin(name, args):
            rule = _check_command_text(here_string, depth=depth + 1)
            if rule is not None:
                return rule
        inner = _shell_command_string(args) if name in _SHELLS else None
        if name in ("eval", "source", "."):
            inner = " ".join(args)
        if inner:
            return _check_command_text(inner, depth=depth + 1)
        return None
    if name == "su":
        for index, word in enumerate(args):
            if word in ("-c", "--command") or word.startswith("--command="):
                inner = " ".join(args[index + 1 :])
                if word.startswith("--command="):
                    inner = " ".join([word.split("=", 1)[1], *args[index + 1 :]])
                return _check_command_text(inner, depth=depth + 1)
        return None
    if name == "rm":
        if _has_flag(options, "r", "recursive") or _has_flag(options, "f", "force"):
            for target in operands:
                if _dangerous_target(target):
                    return f"recursive/forced delete of {target}"
        return None
    if name == "alias":
        # alias x='rm -rf /': the value runs whenever the name does.
        body = " ".join(args).split("=", 1)
        return _check_command_text(body[1], depth=depth + 1) if len(body) == 2 else None
    if name.startswith("mkfs") or name in ("mke2fs", "wipefs"):
        return f"filesystem format ({name})"
    if name in _DISK_TOOLS and any(_written_file_rule(w) for w in operands):
        return f"partitioning or discarding a device ({name})"
    if name == "dd":
        for word in args:
            if word.startswith("of="):
                rule = _written_file_rule(word[3:])
                if rule is not None:
                    return f"dd onto a device ({word})" if "device" in rule else f"dd: {rule}"
        return None
    if name in ("tee", "shred", "cp", "truncate", "install"):
        # cp and install write only their last operand; the others write each one.
        for word in operands[-1:] if name in ("cp", "install") else operands:
            rule = _written_file_rule(word)
            if rule is not None:
                return f"{name}: {rule}"
        return None
    if name == "rsync" and any(o.startswith("--del") for o in options):
        if operands and _dangerous_target(operands[-1]):
            return f"rsync --delete onto {operands[-1]}"
        return None
    if name in ("chattr", "setfacl") and _has_flag(options, "r", "recursive"):
        for target in operands:
            if _dangerous_target(target):
                return f"recursive {name} of {target}"
        return None
    if name in ("pkill", "killall") and _kill_matches_everything(name, args):
        return f"killing every process of a user ({name} {' '.join(args)})".strip()
    if name == "killall5":
        return "killing every process (killall5)"
    if name in _POWER_COMMANDS:
        return f"power state change ({name})"
    if name in ("init", "telinit") and operands[:1] in (["0"], ["6"]):
        return f"power state change ({name} {operands[0]})"
    if name == "systemctl" and operands[:1] and operands[0] in _SYSTEMCTL_POWER:
        return f"power state change (systemctl {operands[0]})"
    if name in ("chmod", "chown", "chgrp"):
        recursive = _has_flag(options, "r", "recursive")
        # The first operand is the mode or owner, unless --reference gives it.
        by_reference = any(o.startswith("--reference") for o in options)
        for target in operands if by_reference else operands[1:]:
            if _is_root(target) or (recursive and _dangerous_target(target)):
                return f"{'recursive ' if recursive else ''}{name} of {target}"
        return None
    if name == "mv":
        for source in operands[:-1]:
            if _system_target(source):
                return f"moving {source} away"
        return None
    if name == "find" and operands[:1]:
        root = operands[0]
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
    if name == "kill" and ("1" in operands or "-1" in args):
        return "killing every process (kill -1, or pid 1)"
    return None
