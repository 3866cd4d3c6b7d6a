"""Kernel layer of a worker: no_new_privs, parent-death signal, rlimits and Landlock.

`apply()` is called once by a freshly forked worker, before the agent runs and
before any thread starts. Deciding what to restrict is pure (`plan_landlock`,
`plan_rlimits`, `Limits.from_config`); the few functions that call the kernel
stay thin. `probe()` reports what the running kernel supports without
restricting the caller (for `scoot doctor`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import socket
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from scoot.errors import ScootError

MODES = ("readonly", "guarded", "unrestricted")

# prctl options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# Landlock system calls come from the generic table: the same numbers on
# x86_64 and aarch64. Arguments go to syscall(2) as longs, the width it reads.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_RULE_NET_PORT = 2

# Filesystem access rights (linux/landlock.h).
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
FS_ABI1_ALL = (1 << 13) - 1
# Rights that may be granted on a file (not a directory) rule.
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
FS_READ_ONLY_RIGHTS = FS_READ_FILE | FS_READ_DIR | FS_EXECUTE
FS_DEVNULL_RIGHTS = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

# What each Landlock feature needs, in ABI order; names match the report keys.
LANDLOCK_FEATURES: tuple[tuple[str, int, str], ...] = (
    ("fs_readonly", 1, "filesystem writes confined to chosen directories"),
    ("fs_refer", 2, "renames and links across directories controlled"),
    ("fs_truncate", 3, "truncating files controlled"),
    ("net_connect", 4, "TCP connect limited to chosen ports"),
    ("net_bind", 4, "TCP bind limited to chosen ports"),
    ("fs_ioctl_dev", 5, "ioctl on device files controlled"),
    ("scope_signal", 6, "signals to processes outside the sandbox refused"),
    ("scope_abstract_unix", 6, "abstract unix sockets outside the sandbox refused"),
    ("log_flags", 7, "audit logging of denials tunable (not used by scoot)"),
)

RESTRICTION_KEYS = (
    "no_new_privs",
    "pdeathsig",
    "dumpable",
    "rlimits",
    "fs_read",
    "fs_readonly",
    "runtime_dir",
    "net_connect",
    "net_bind",
    "socket_kinds",
    "scope_signal",
    "scope_abstract_unix",
)
# The entries that Landlock (and, for socket_kinds, seccomp) put in force.
LANDLOCK_KEYS = RESTRICTION_KEYS[4:]

# Exit status of a worker whose parent died before the sandbox was applied.
PARENT_GONE_EXIT_CODE = 75

MIB = 1024 * 1024
LIMIT_KEYS = ("cpu_sec", "address_space_mb", "nofile", "nproc", "fsize_mb")
# nproc stays unset: RLIMIT_NPROC counts every process of the user, daemon included.
DEFAULT_LIMITS: dict[str, int | None] = {
    "cpu_sec": 600,
    "address_space_mb": 2048,
    "nofile": 256,
    "nproc": None,
    "fsize_mb": 256,
}


class SandboxRefused(ScootError):
    """The run must not start: its sandbox cannot be put in place."""


class LimitsError(ValueError):
    """A configured limit is not a whole number >= 0."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run; None leaves the inherited limit alone. Core is always 0."""

    cpu_sec: int | None = None
    address_space_mb: int | None = None
    nofile: int | None = None
    nproc: int | None = None
    fsize_mb: int | None = None

    @classmethod
    def from_config(
        cls, defaults: dict[str, Any], overrides: dict[str, Any] | None = None
    ) -> Limits:
        """Merge built-in defaults, `[sandbox]` values and a job's overrides; 0 means unset."""
        merged: dict[str, int | None] = dict(DEFAULT_LIMITS)
        for source in (defaults, overrides or {}):
            for key in LIMIT_KEYS:
                if key in source:
                    merged[key] = _limit_value(key, source[key])
        return cls(**merged)


def _limit_value(key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LimitsError(
            f"sandbox limit {key} must be a whole number >= 0 (0 = no limit), got {value!r}"
        )
    return value or None


@dataclass(frozen=True)
class Restriction:
    """Whether one restriction is in force for the run, and why (or why not)."""

    applied: bool
    why: str


@dataclass(frozen=True)
class SandboxReport:
    """What the kernel layer put in place for one run; sent in the worker's hello frame."""

    mode: str
    abi: int
    landlock: str  # enforced | partial | unavailable | not_applied
    enforced: bool
    restrictions: dict[str, Restriction] = field(default_factory=dict)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "abi": self.abi,
            "landlock": self.landlock,
            "enforced": self.enforced,
            "restrictions": {
                key: {"applied": entry.applied, "why": entry.why}
                for key, entry in self.restrictions.items()
            },
            "summary": self.summary,
        }


# ---------------------------------------------------------------- decisions


def effective_mode(mode: str) -> str:
    """The mode the kernel layer applies: an unknown mode is readonly, never looser."""
    return mode if mode in MODES else "readonly"


def fs_rights_known(abi: int) -> int:
    """Every filesystem right the given Landlock ABI knows."""
    rights = FS_ABI1_ALL if abi >= 1 else 0
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


@dataclass(frozen=True)
class PathRule:
    path: str
    access: int
    optional: bool = False  # a missing optional path is skipped, not an error
    # An entry found by listing a directory: opened without following a symlink,
    # and skipped if it became one, so a swapped-in link cannot widen the grant.
    entry: bool = False


@dataclass(frozen=True)
class Reach:
    """What a run may reach, the inputs of its ruleset; every path absolute and real."""

    cwd: str | None
    scratch_dir: str
    private_tmp: str | None = None
    # The runtime directory, the config file and the token file: never granted.
    protected: tuple[str, ...] = ()
    # What a readonly worker still reads once confined (libraries, certificates, resolver files).
    system_reads: tuple[str, ...] = ()
    confine_writes: bool = False
    workspace_root: str | None = None  # <home>/work: job workspaces live inside the runtime dir
    # The ports of the backend's fallbacks, reachable as the backend's own is.
    fallback_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class LandlockPlan:
    """A ruleset for one ABI: what is handled (denied unless a rule allows) and the rules."""

    abi: int
    handled_fs: int
    handled_net: int
    scoped: int
    path_rules: tuple[PathRule, ...]
    port_rules: tuple[tuple[int, int], ...]
    mode: str = "readonly"
    reach: Reach | None = None

    @property
    def attr_size(self) -> int:
        """Size of `struct landlock_ruleset_attr` as this ABI knows it."""
        if self.abi >= 6:
            return 24
        return 16 if self.abi >= 4 else 8


def is_within(path: str, base: str) -> bool:
    """Whether `path` is `base` or lies beneath it (both absolute, normalised)."""
    return path == base or path.startswith(base.rstrip("/") + "/")


# (name, kind) of a directory's entries; kind is dir, file or link.
ListDir = Callable[[str], list[tuple[str, str]]]


def list_entries(path: str) -> list[tuple[str, str]]:
    """The entries of `path`, typed without following symlinks; [] if it cannot be listed."""
    entries = []
    try:
        with os.scandir(path) as listing:
            for item in listing:
                try:
                    if item.is_symlink():
                        kind = "link"
                    elif item.is_dir(follow_symlinks=False):
                        kind = "dir"
                    else:
                        kind = "file"
                except OSError:
                    continue
                entries.append((item.name, kind))
    except OSError:
        return []
    return sorted(entries)


def grant_except(
    path: str, access: int, protected: tuple[str, ...], list_dir: ListDir = list_entries
) -> tuple[PathRule, ...]:
    """Rules granting `access` beneath `path`, except beneath any protected path.

    Landlock is allow-only and a rule on a directory covers its whole subtree,
    so a directory that holds a protected path is not granted itself: each of
    its entries is, one by one, except the one leading to the protected path.
    The directory itself keeps only the right to be listed (which, in Landlock,
    extends to listing the directories beneath, never to reading their files).
    Symlinked entries are skipped: their targets get no rights from here.
    """
    inside = tuple(p for p in protected if is_within(p, path))
    if not inside:
        return (PathRule(path, access, optional=True),)
    if path in inside:
        return ()
    rules: list[PathRule] = []
    if access & FS_READ_DIR:
        rules.append(PathRule(path, FS_READ_DIR, optional=True))
    for name, kind in list_dir(path):
        child = os.path.join(path, name)
        if kind == "link":
            continue
        if kind == "dir":
            for rule in grant_except(child, access, inside, list_dir):
                rules.append(PathRule(rule.path, rule.access, optional=True, entry=True))
        elif not any(is_within(p, child) for p in inside):
            rules.append(PathRule(child, access & FS_FILE_RIGHTS, optional=True, entry=True))
    return tuple(rules)


def plan_landlock(
    abi: int,
    scratch_dir: str,
    backend_port: int | None,
    *,
    mode: str = "readonly",
    reach: Reach | None = None,
    list_dir: ListDir = list_entries,
) -> LandlockPlan:
    """The ruleset of `mode` for `abi`.

    readonly: read only the working directory, the scratch dir and `system_reads`;
    write only the scratch dir and /dev/null; TCP connect only to the backend port.
    guarded: read anywhere; write only the working directory, scratch, private tmp
    and /dev/null with `confine_writes`, anywhere otherwise. In both, nothing of
    the protected paths (runtime directory, config and token files).
    """
    if abi < 1:
        raise ValueError(f"Landlock ABI must be >= 1, got {abi}")
    if backend_port is not None and not 1 <= backend_port <= 65535:
        raise ValueError(f"backend port must be 1..65535, got {backend_port}")
    if reach is None:
        reach = Reach(cwd=None, scratch_dir=scratch_dir)
    handled_fs = fs_rights_known(abi)
    reads = FS_READ_ONLY_RIGHTS & handled_fs
    protected = reach.protected
    cwd = reach.cwd if reach.cwd and cwd_reachable(reach) else None
    rules: list[PathRule] = []
    if mode == "guarded":
        rules.extend(grant_except("/", reads, protected, list_dir))
        writable = [cwd] if cwd else []
        if not reach.confine_writes:
            writable = ["/"]
        for path in writable:
            rules.extend(grant_except(path, handled_fs, protected, list_dir))
        if (
            cwd
            and not reach.confine_writes
            and not cwd_reachable(replace(reach, workspace_root=None))
        ):
            rules.append(PathRule(cwd, handled_fs))  # a workspace inside the runtime dir
    else:
        for read_path in (cwd, *reach.system_reads):
            if read_path:
                rules.extend(grant_except(read_path, reads, protected, list_dir))
    rules.append(PathRule(scratch_dir, handled_fs))
    if mode == "guarded" and reach.private_tmp:
        rules.append(PathRule(reach.private_tmp, handled_fs))
    rules.append(PathRule(os.devnull, FS_DEVNULL_RIGHTS & handled_fs, optional=True))
    handled_net = 0
    port_rules: tuple[tuple[int, int], ...] = ()
    scoped = 0
    if mode != "guarded":
        handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
        if handled_net and backend_port is not None:
            ports = dict.fromkeys((backend_port, *reach.fallback_ports))
            port_rules = tuple((port, NET_CONNECT_TCP) for port in ports if 1 <= port <= 65535)
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    elif abi >= 6:
        # A guarded tool may not signal the daemon or the user's other processes
        # (`kill`, `pkill -u`); abstract sockets stay open for the programs it runs.
        scoped = SCOPE_SIGNAL
    return LandlockPlan(abi, handled_fs, handled_net, scoped, tuple(rules), port_rules, mode, reach)


def landlock_restrictions(plan: LandlockPlan, backend_port: int | None) -> dict[str, Restriction]:
    """What an enforced `plan` restricts, entry by entry, with the gaps of its ABI."""
    abi = plan.abi
    reach = plan.reach or Reach(cwd=None, scratch_dir="")
    scratch_dir = reach.scratch_dir
    gaps = []
    if abi < 2:
        gaps.append("renames and links across directories are refused everywhere (ABI 1)")
    if abi < 3:
        gaps.append("truncating files is not restricted (ABI < 3)")
    if abi < 5:
        gaps.append("device ioctls are not restricted (ABI < 5)")
    guarded = plan.mode == "guarded"
    if guarded and reach.confine_writes:
        where = [f"the working directory {reach.cwd}", f"the scratch dir {scratch_dir}"]
        if reach.private_tmp and reach.private_tmp != scratch_dir:
            where.append(f"the private tmp {reach.private_tmp}")
        fs_why = f"Landlock ABI {abi}: writes only under {', '.join(where)} and to {os.devnull}"
    elif guarded:
        fs_why = (
            f"Landlock ABI {abi}: writes anywhere but the runtime directory (confine_writes off)"
        )
    else:
        fs_why = f"Landlock ABI {abi}: writes only under {scratch_dir} and to {os.devnull}"
    if guarded:
        read_why = f"Landlock ABI {abi}: reads anywhere but the runtime directory (guarded)"
    else:
        where = [p for p in (reach.cwd if cwd_reachable(reach) else None, scratch_dir) if p]
        read_why = (
            f"Landlock ABI {abi}: reads only under {', '.join(where)} and "
            f"{len(reach.system_reads)} system paths (libraries, certificates, resolver files)"
        )
    if reach.cwd and not cwd_reachable(reach):
        read_why += (
            f"; the working directory {reach.cwd} is inside the runtime directory: no rights"
        )
    entries = {
        "fs_read": Restriction(True, read_why),
        "fs_readonly": Restriction(True, "; ".join([fs_why, *gaps])),
        "runtime_dir": Restriction(
            True,
            "no reads or writes of " + (", ".join(reach.protected) or "(none named)"),
        ),
    }

    def missing(min_abi: int) -> Restriction:
        return Restriction(False, f"needs Landlock ABI {min_abi}, running ABI {abi}")

    if guarded:
        for key in ("net_connect", "net_bind"):
            entries[key] = Restriction(False, "guarded run: the network is not restricted")
    elif plan.handled_net:
        ports = ", ".join(str(port) for port, _ in plan.port_rules)  # fallbacks' too
        target = f"port {ports} only" if ports else "no port (no backend port given)"
        entries["net_connect"] = Restriction(
            True, f"TCP connect to {target}, on any host; UDP (DNS included) is not restricted"
        )
        entries["net_bind"] = Restriction(True, "TCP bind refused on every port")
    else:
        entries["net_connect"] = missing(4)
        entries["net_bind"] = missing(4)
    if plan.scoped & SCOPE_SIGNAL:
        entries["scope_signal"] = Restriction(
            True, "signals only to processes of this run (not the daemon)"
        )
    else:
        entries["scope_signal"] = missing(6)
    if plan.scoped & SCOPE_ABSTRACT_UNIX_SOCKET:
        entries["scope_abstract_unix"] = Restriction(
            True, "abstract unix sockets only within this run"
        )
    elif guarded:
        entries["scope_abstract_unix"] = Restriction(
            False, "guarded run: abstract unix sockets are not restricted"
        )
    else:
        entries["scope_abstract_unix"] = missing(6)
    return entries


# The entries each confined mode must have in force to count as `enforced`.
STATUS_KEYS = {
    "readonly": LANDLOCK_KEYS,
    "guarded": ("fs_read", "fs_readonly", "runtime_dir", "scope_signal"),
}


def landlock_status(restrictions: dict[str, Restriction], mode: str = "readonly") -> str:
    """enforced when every kernel entry of `mode` is in force, partial when only some are."""
    applied = [restrictions[key].applied for key in STATUS_KEYS.get(mode, LANDLOCK_KEYS)]
    if all(applied):
        return "enforced"
    return "partial" if any(applied) else "unavailable"


@dataclass(frozen=True)
class RlimitSetting:
    name: str
    resource: int
    soft: int
    hard: int
    shown: str


def plan_rlimits(limits: Limits) -> tuple[RlimitSetting, ...]:
    """The rlimits to set for `limits`; core dumps are always off."""
    settings = []
    if limits.cpu_sec is not None:
        # SIGXCPU at the soft limit names the cause in the wait status;
        # SIGKILL a second later in case the signal is caught or ignored.
        settings.append(
            RlimitSetting(
                "cpu", resource.RLIMIT_CPU, limits.cpu_sec, limits.cpu_sec + 1, f"{limits.cpu_sec}s"
            )
        )
    for name, key, resource_id, scale, unit in (
        ("address space", "address_space_mb", resource.RLIMIT_AS, MIB, " MiB"),
        ("open files", "nofile", resource.RLIMIT_NOFILE, 1, ""),
        ("processes", "nproc", resource.RLIMIT_NPROC, 1, ""),
        ("file size", "fsize_mb", resource.RLIMIT_FSIZE, MIB, " MiB"),
    ):
        value = getattr(limits, key)
        if value is not None:
            settings.append(
                RlimitSetting(name, resource_id, value * scale, value * scale, f"{value}{unit}")
            )
    settings.append(RlimitSetting("core", resource.RLIMIT_CORE, 0, 0, "0"))
    return tuple(settings)


ENFORCED_TEXT = {
    "readonly": (
        "reads only the working directory, scratch and system files; writes only to scratch "
        "and /dev/null; never the runtime directory; TCP connect only to the backend port, "
        "no TCP bind; socket kinds filtered; signals and abstract sockets scoped to the run"
    ),
    "guarded": "reads anywhere but the runtime directory; signals scoped to the run",
}


def summarize(
    mode: str,
    requested_mode: str,
    landlock_state: str,
    abi: int,
    restrictions: dict[str, Restriction],
) -> str:
    """One line an operator can read in `hello` and the audit log."""
    if landlock_state == "enforced":
        text = ENFORCED_TEXT.get(mode, "")
        if mode == "guarded":
            text = f"{restrictions['fs_readonly'].why.split(': ', 1)[-1]}; {text}"
        landlock = f"Landlock ABI {abi} enforced ({text})"
    elif landlock_state == "partial":
        keys = STATUS_KEYS.get(mode, LANDLOCK_KEYS)
        absent = [key for key in keys if not restrictions[key].applied]
        landlock = f"Landlock ABI {abi} partial (missing: {', '.join(absent)})"
    else:
        landlock = f"no Landlock ({restrictions['fs_readonly'].why})"
    parts = [f"{mode}: {landlock}"]
    if requested_mode != mode:
        parts.append(f"unknown mode {requested_mode!r} treated as readonly")
    for key in ("no_new_privs", "pdeathsig", "dumpable"):
        if not restrictions[key].applied:
            parts.append(f"{key} NOT set ({restrictions[key].why})")
    parts.append(f"rlimits: {restrictions['rlimits'].why}")
    return "; ".join(parts)


# ---------------------------------------------------------------- socket filter

# Architectures the socket filter knows: audit arch value and socket(2)'s number.
SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, 41),
    "aarch64": (0xC00000B7, 198),
}
X32_SYSCALL_BIT = 0x40000000
# io_uring_setup/enter/register (same numbers on both): IORING_OP_SOCKET would
# create sockets without the socket(2) call the filter sees.
IO_URING_SYSCALLS = (425, 426, 427)
SOCKET_FAMILIES_ALLOWED = (int(socket.AF_UNIX),)
INET_FAMILIES = (int(socket.AF_INET), int(socket.AF_INET6))
SOCKET_TYPES_ALLOWED = (int(socket.SOCK_STREAM), int(socket.SOCK_DGRAM))
SOCK_TYPE_MASK = 0xF  # the type without SOCK_NONBLOCK / SOCK_CLOEXEC
# 0 is the family's default: TCP for a stream, UDP for a datagram socket.
INET_PROTOCOLS_ALLOWED = (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP)

_BPF_LD_W_ABS = 0x20
_BPF_ALU_AND_K = 0x54
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_OFFSET_NR, _OFFSET_ARCH = 0, 4


def _arg_offset(index: int) -> int:
    # The low 32 bits of args[index] on a little-endian machine: socket's arguments are ints.
    return 16 + 8 * index


def socket_filter_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The seccomp BPF program (code, jt, jf, k) that refuses socket kinds Landlock cannot police.

    Allowed: AF_UNIX; AF_INET and AF_INET6 stream or datagram sockets with
    protocol 0, TCP or UDP. Everything else (MPTCP, SCTP, raw, ICMP, packet,
    netlink, vsock...) and io_uring fail with EACCES, as do system calls of
    another architecture (32-bit compat, x32) whose numbers differ.
    """
    if machine not in SECCOMP_ARCHES:
        raise ValueError(f"no socket filter for architecture {machine}")
    arch, socket_nr = SECCOMP_ARCHES[machine]
    deny = _RET_ERRNO | errno.EACCES
    prog: list[tuple[int, int, int, int]] = []

    def emit(code: int, jt: int = 0, jf: int = 0, k: int = 0) -> int:
        prog.append((code, jt, jf, k))
        return len(prog) - 1

    # Jumps are relative and only forward: every check is emitted first, the
    # two returns last, and jump offsets are patched once those are known.
    emit(_BPF_LD_W_ABS, k=_OFFSET_ARCH)
    arch_check = emit(_BPF_JEQ_K, k=arch)
    emit(_BPF_LD_W_ABS, k=_OFFSET_NR)
    x32_check = emit(_BPF_JGE_K, k=X32_SYSCALL_BIT) if machine == "x86_64" else None
    uring_checks = [emit(_BPF_JEQ_K, k=nr) for nr in IO_URING_SYSCALLS]
    socket_check = emit(_BPF_JEQ_K, k=socket_nr)
    # socket(domain, type, protocol)
    emit(_BPF_LD_W_ABS, k=_arg_offset(0))
    unix_checks = [emit(_BPF_JEQ_K, k=family) for family in SOCKET_FAMILIES_ALLOWED]
    inet_checks = [emit(_BPF_JEQ_K, k=family) for family in INET_FAMILIES]
    type_load = emit(_BPF_LD_W_ABS, k=_arg_offset(1))
    emit(_BPF_ALU_AND_K, k=SOCK_TYPE_MASK)
    type_checks = [emit(_BPF_JEQ_K, k=kind) for kind in SOCKET_TYPES_ALLOWED]
    protocol_load = emit(_BPF_LD_W_ABS, k=_arg_offset(2))
    protocol_checks = [emit(_BPF_JEQ_K, k=proto) for proto in INET_PROTOCOLS_ALLOWED]
    allow = emit(_BPF_RET_K, k=_RET_ALLOW)
    deny_at = emit(_BPF_RET_K, k=deny)

    def patch(at: int, jt: int, jf: int) -> None:
        code, _jt, _jf, k = prog[at]
        prog[at] = (code, jt - at - 1, jf - at - 1, k)

    patch(arch_check, arch_check + 1, deny_at)
    if x32_check is not None:
        patch(x32_check, deny_at, x32_check + 1)
    for at in uring_checks:
        patch(at, deny_at, at + 1)
    patch(socket_check, socket_check + 1, allow)
    for at in unix_checks:
        patch(at, allow, at + 1)
    for at in inet_checks:
        patch(at, type_load, at + 1 if at != inet_checks[-1] else deny_at)
    for at in type_checks:
        patch(at, protocol_load, at + 1 if at != type_checks[-1] else deny_at)
    for at in protocol_checks:
        patch(at, allow, at + 1 if at != protocol_checks[-1] else deny_at)
    for _code, jt, jf, _k in prog:
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise AssertionError("socket filter jump out of range")
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def apply_socket_filter() -> Restriction:
    """Install the socket filter on the calling thread (needs no_new_privs); irreversible."""
    machine = os.uname().machine
    if machine not in SECCOMP_ARCHES:
        return Restriction(False, f"no socket filter for architecture {machine}")
    program = socket_filter_program(machine)
    filters = (_SockFilter * len(program))(*(_SockFilter(*entry) for entry in program))
    fprog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    try:
        _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog))
    except OSError as error:
        return Restriction(False, f"seccomp filter could not be installed: {error.strerror}")
    return Restriction(
        True,
        "socket(): only unix, and TCP/UDP over IPv4/IPv6; MPTCP, SCTP, raw, ICMP, packet, "
        "netlink and io_uring refused",
    )


# ---------------------------------------------------------------- kernel calls


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is packed: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


@cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


def _raise_errno(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{what}: {os.strerror(code)}")


def _syscall(number: int, *args: Any) -> int:
    result = int(_libc().syscall(ctypes.c_long(number), *args))
    if result == -1:
        _raise_errno(f"syscall {number}")
    return result


def _prctl(option: int, arg2: Any = 0, arg3: Any = 0) -> int:
    if isinstance(arg2, int):
        arg2 = ctypes.c_ulong(arg2)
    if isinstance(arg3, int):
        arg3 = ctypes.c_ulong(arg3)
    zero = ctypes.c_ulong(0)
    result = int(_libc().prctl(ctypes.c_int(option), arg2, arg3, zero, zero))
    if result == -1:
        _raise_errno(f"prctl({option})")
    return result


def landlock_abi() -> tuple[int, str]:
    """The running kernel's Landlock ABI (0 if none) and a reason that can be shown."""
    if not sys.platform.startswith("linux"):
        return 0, f"Landlock is a Linux feature; this is {sys.platform}"
    try:
        abi = _syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            None,
            ctypes.c_size_t(0),
            ctypes.c_long(LANDLOCK_CREATE_RULESET_VERSION),
        )
    except OSError as error:
        reasons = {
            errno.ENOSYS: "the kernel has no Landlock system calls (ENOSYS, Linux < 5.13)",
            errno.EOPNOTSUPP: "Landlock is built in but disabled at boot (EOPNOTSUPP); "
            "add landlock to the lsm= kernel parameter",
            errno.EPERM: "Landlock calls are blocked (EPERM), e.g. by a container's seccomp profile",
        }
        return 0, reasons.get(error.errno or 0, f"Landlock probe failed: {error.strerror}")
    return abi, f"Landlock ABI {abi}"


def _create_ruleset(plan: LandlockPlan) -> int:
    attr = _RulesetAttr(plan.handled_fs, plan.handled_net, plan.scoped)
    return _syscall(
        SYS_LANDLOCK_CREATE_RULESET,
        ctypes.byref(attr),
        ctypes.c_size_t(plan.attr_size),
        ctypes.c_long(0),
    )


def enforce_landlock(plan: LandlockPlan) -> None:
    """Restrict the calling thread (and everything it starts later) to `plan`; irreversible."""
    ruleset_fd = _create_ruleset(plan)
    try:
        for rule in plan.path_rules:
            flags = os.O_PATH | os.O_CLOEXEC | (os.O_NOFOLLOW if rule.entry else 0)
            try:
                path_fd = os.open(rule.path, flags)
            except OSError:
                if rule.optional:
                    continue
                raise
            try:
                kind = os.fstat(path_fd).st_mode
                if rule.entry and stat.S_ISLNK(kind):
                    continue  # swapped for a symlink since it was listed: grant nothing
                access = rule.access if stat.S_ISDIR(kind) else rule.access & FS_FILE_RIGHTS
                beneath = _PathBeneathAttr(access, path_fd)
                _add_rule(ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(beneath), rule.path)
            finally:
                os.close(path_fd)
        for port, access in plan.port_rules:
            net_port = _NetPortAttr(access, port)
            _add_rule(ruleset_fd, LANDLOCK_RULE_NET_PORT, ctypes.byref(net_port), f"port {port}")
        _syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_long(ruleset_fd), ctypes.c_long(0))
    finally:
        os.close(ruleset_fd)


def _add_rule(ruleset_fd: int, rule_type: int, attr: Any, target: str) -> None:
    try:
        _syscall(
            SYS_LANDLOCK_ADD_RULE,
            ctypes.c_long(ruleset_fd),
            ctypes.c_long(rule_type),
            attr,
            ctypes.c_long(0),
        )
    except OSError as error:
        raise OSError(
            error.errno, f"Landlock rule for {target}: {os.strerror(error.errno or 0)}"
        ) from None


def _thread_count() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import threading  # /proc unavailable: Python's own threads are the best we can see

    return threading.active_count()


def set_non_dumpable() -> Restriction:
    """Make this process non-dumpable: same-uid processes can no longer open its
    /proc/<pid>/fd, environ or mem, nor ptrace it; no core dump. Fork keeps the
    flag; exec of a readable program clears it, so tools are dumpable again."""
    try:
        _prctl(PR_SET_DUMPABLE, 0)
    except OSError as error:
        return Restriction(False, f"prctl(PR_SET_DUMPABLE) failed: {error.strerror}")
    return Restriction(
        True, "non-dumpable: no process of the user can open its fds, environ or mem, or attach"
    )


def is_dumpable() -> bool:
    try:
        return _prctl(PR_GET_DUMPABLE) != 0
    except OSError:
        return True


def scrub_environ(name: str) -> bool:
    """Remove `name` from the environment, its value overwritten in the kernel's copy too.

    /proc/<pid>/environ shows the block the process started with, which
    unsetenv(3) leaves as it was; the value is overwritten in place there
    (glibc's getenv points into it), then the variable is unset. True if it was set.
    """
    libc = _libc()
    libc.getenv.restype = ctypes.c_void_p
    libc.getenv.argtypes = [ctypes.c_char_p]
    address = libc.getenv(os.fsencode(name))
    found = name in os.environ or bool(address)
    if address:
        length = ctypes.c_size_t(ctypes.string_at(address).__len__())
        ctypes.memset(address, 0, length.value)
    os.environ.pop(name, None)
    try:
        os.unsetenv(name)
    except OSError:
        pass
    return found


@cache
def system_read_paths() -> tuple[str, ...]:
    """What a confined readonly worker still reads: Python's standard library (for
    lazily loaded codecs), shared libraries, CA certificates and resolver files.
    None of them holds a secret of the user's."""
    import sysconfig

    paths = {
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["platstdlib"],
        "/usr/lib",
        "/usr/lib64",
        "/lib",
        "/lib64",
        "/usr/share/zoneinfo",
        "/usr/share/ca-certificates",
        "/etc/ssl",
        "/etc/pki",
        "/etc/ca-certificates",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/nsswitch.conf",
        "/etc/host.conf",
        "/etc/gai.conf",
        "/etc/services",
        "/etc/protocols",
        "/etc/localtime",
        "/dev/urandom",
    }
    try:
        import ssl

        verify = ssl.get_default_verify_paths()
        for candidate in (
            verify.cafile,
            verify.capath,
            verify.openssl_cafile,
            verify.openssl_capath,
            # A CA bundle the operator points OpenSSL at (a private backend's CA).
            os.environ.get(verify.openssl_cafile_env),
            os.environ.get(verify.openssl_capath_env),
        ):
            if candidate:
                paths.add(candidate)
    except Exception:  # noqa: BLE001 - no ssl module: nothing more to read
        pass
    real = {os.path.realpath(path) for path in paths if os.path.exists(path)}
    return tuple(sorted(real))


def set_no_new_privs() -> Restriction:
    try:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError as error:
        return Restriction(False, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {error.strerror}")
    return Restriction(True, "exec can never gain privileges (setuid, file capabilities)")


def set_parent_death_signal(parent_pid: int) -> Restriction:
    """SIGKILL this process when its parent dies; exit at once if it already has."""
    try:
        _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        outcome = Restriction(True, "SIGKILL when the parent daemon dies")
    except OSError as error:
        outcome = Restriction(False, f"prctl(PR_SET_PDEATHSIG) failed: {error.strerror}")
    # Checked after setting: a parent that died before the prctl sent nothing.
    if os.getppid() != parent_pid:
        os._exit(PARENT_GONE_EXIT_CODE)
    return outcome


def apply_rlimits(limits: Limits) -> Restriction:
    """Set soft and hard rlimits; a limit the process cannot lower that far is clamped or reported."""
    shown, problems = [], []
    for setting in plan_rlimits(limits):
        soft, hard = setting.soft, setting.hard
        try:
            resource.setrlimit(setting.resource, (soft, hard))
        except (ValueError, OSError):
            # Without CAP_SYS_RESOURCE a hard limit cannot be raised: keep the inherited one.
            _, inherited_hard = resource.getrlimit(setting.resource)
            if inherited_hard == resource.RLIM_INFINITY or inherited_hard >= hard:
                problems.append(f"{setting.name} {setting.shown} could not be set")
                continue
            soft, hard = min(soft, inherited_hard), inherited_hard
            try:
                resource.setrlimit(setting.resource, (soft, hard))
            except (ValueError, OSError) as error:
                problems.append(f"{setting.name} {setting.shown} could not be set ({error})")
                continue
            shown.append(f"{setting.name} {setting.shown} (clamped to inherited hard limit {hard})")
            continue
        shown.append(f"{setting.name} {setting.shown}")
    if limits.fsize_mb is not None:
        _ignore_sigxfsz()
    if limits.nproc is None:
        shown.append("processes not limited")
    text = ", ".join(shown)
    if problems:
        return Restriction(False, f"{text}; NOT applied: {', '.join(problems)}")
    return Restriction(True, text)


def _ignore_sigxfsz() -> None:
    # A write past the file-size limit then fails with EFBIG instead of killing the run.
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    except ValueError:  # not the main thread; Python ignores SIGXFSZ by default anyway
        pass


# ---------------------------------------------------------------- the worker's entry


def apply(
    mode: str,
    limits: Limits,
    *,
    scratch_dir: str,
    backend_port: int | None,
    require: bool,
    parent_pid: int,
    max_abi: int | None = None,
    reach: Reach | None = None,
) -> SandboxReport:
    """Put the kernel layer of `mode` in place for the calling process, before any thread starts.

    `reach` names the working directory, private tmp and protected paths (None:
    the current directory, nothing protected). `max_abi` caps the Landlock ABI
    used (None: the kernel's best; 0: no Landlock). Raises SandboxRefused when a
    run cannot be confined as its mode demands and must not start.
    """
    applied_mode = effective_mode(mode)
    if reach is None:
        reach = Reach(cwd=os.path.realpath(os.getcwd()), scratch_dir=scratch_dir)
    if applied_mode == "readonly" and not reach.system_reads:
        reach = replace(reach, system_reads=system_read_paths())
    restrictions = {
        "dumpable": set_non_dumpable(),
        "no_new_privs": set_no_new_privs(),
        "pdeathsig": set_parent_death_signal(parent_pid),
    }
    abi = 0
    if applied_mode == "unrestricted":
        why = "unrestricted run: the operator opted out of confinement"
        restrictions.update({key: Restriction(False, why) for key in LANDLOCK_KEYS})
    else:
        abi, landlock_entries = _confine(
            applied_mode, reach, backend_port, require and applied_mode == "readonly", max_abi
        )
        restrictions.update(landlock_entries)
    if applied_mode == "readonly":
        # Seccomp needs no Landlock: a gate-only readonly run gets the filter too.
        restrictions["socket_kinds"] = apply_socket_filter()
    else:
        restrictions["socket_kinds"] = Restriction(False, f"not filtered in {applied_mode} runs")
    restrictions["rlimits"] = apply_rlimits(limits)
    restrictions = {key: restrictions[key] for key in RESTRICTION_KEYS}
    if applied_mode == "unrestricted":
        status = "not_applied"
    elif abi == 0:
        status = "unavailable"
    else:
        status = landlock_status(restrictions, applied_mode)
    return SandboxReport(
        mode=applied_mode,
        abi=abi,
        landlock=status,
        enforced=status in ("enforced", "partial"),
        restrictions=restrictions,
        summary=summarize(applied_mode, mode, status, abi, restrictions),
    )


def cwd_reachable(reach: Reach) -> bool:
    """Whether the working directory may be granted at all.

    One inside the runtime directory (a run started there) would hand the run
    the daemon's own files: it gets no rights, unless it is one of the per-job
    workspaces under `<home>/work`.
    """
    if not reach.cwd:
        return False
    workspace = reach.workspace_root
    if workspace and is_within(reach.cwd, workspace) and reach.cwd != workspace:
        return True
    return not any(is_within(reach.cwd, path) for path in reach.protected)


def _confine(
    mode: str, reach: Reach, backend_port: int | None, require: bool, max_abi: int | None
) -> tuple[int, dict[str, Restriction]]:
    abi, why = landlock_abi()
    if max_abi is not None and max_abi < abi:
        abi, why = max_abi, f"Landlock capped at ABI {max_abi}, the kernel offers {abi}"
    if abi == 0:
        if require:
            raise SandboxRefused(
                f"readonly run refused: the kernel has no Landlock support ({why}) and "
                "[sandbox] require = true; run on Linux >= 5.13 with Landlock enabled, "
                "or set [sandbox] require = false to rely on the policy gate alone"
            )
        unavailable = Restriction(False, f"{why}; {mode} enforced by the policy gate alone")
        return 0, {key: unavailable for key in LANDLOCK_KEYS}
    if mode == "guarded" and abi < 2:
        # ABI 1 refuses every rename and link across directories: too much for
        # the programs a guarded run starts (git, package managers).
        why = f"guarded rulesets need Landlock ABI 2, running ABI {abi}; the gate alone applies"
        return 0, {key: Restriction(False, why) for key in LANDLOCK_KEYS}
    threads = _thread_count()
    if threads > 1:
        raise SandboxRefused(
            f"{mode} run refused: the worker already has {threads} threads and Landlock "
            "confines only the calling one; apply the sandbox before starting threads"
        )
    plan = plan_landlock(abi, reach.scratch_dir, backend_port, mode=mode, reach=reach)
    try:
        enforce_landlock(plan)
    except OSError as error:
        raise SandboxRefused(
            f"{mode} run refused: Landlock is available but could not be applied "
            f"({error.strerror}); check that the scratch dir {reach.scratch_dir} exists"
        ) from None
    return abi, landlock_restrictions(plan, backend_port)


# ---------------------------------------------------------------- doctor


def probe() -> dict[str, Any]:
    """What the running kernel supports, feature by feature; restricts nothing."""
    abi, why = landlock_abi()
    if abi:
        # Build (and drop) a full ruleset: shows the kernel accepts what apply() will ask.
        try:
            os.close(_create_ruleset(plan_landlock(abi, "/", 1)))
        except OSError as error:
            why = f"Landlock ABI {abi} reported, but creating a ruleset failed: {error.strerror}"
            abi = 0
    features: dict[str, dict[str, Any]] = {}
    for name, min_abi, what in LANDLOCK_FEATURES:
        supported = abi >= min_abi
        reason = what if supported else f"needs Landlock ABI {min_abi}, kernel has {abi}"
        features[name] = {"supported": supported, "min_abi": min_abi, "why": reason}
    features["no_new_privs"] = _probe_prctl(PR_GET_NO_NEW_PRIVS, "prctl(PR_SET_NO_NEW_PRIVS)")
    features["pdeathsig"] = _probe_prctl(PR_GET_PDEATHSIG, "prctl(PR_SET_PDEATHSIG)")
    features["rlimits"] = {"supported": True, "min_abi": 0, "why": "setrlimit (per process)"}
    features["dumpable"] = _probe_prctl(PR_GET_DUMPABLE, "prctl(PR_SET_DUMPABLE)")
    machine = os.uname().machine
    features["socket_kinds"] = {
        "supported": machine in SECCOMP_ARCHES,
        "min_abi": 0,
        "why": (
            "seccomp socket filter (readonly runs)"
            if machine in SECCOMP_ARCHES
            else f"no socket filter for architecture {machine}"
        ),
    }
    return {"abi": abi, "available": abi > 0, "why": why, "features": features}


def mode_protections(report: dict[str, Any]) -> dict[str, str]:
    """Per mode, which protections a run would get on this machine (for `scoot doctor`)."""
    features = report.get("features", {})

    def has(name: str) -> bool:
        return bool(features.get(name, {}).get("supported"))

    common = ["dumpable=off", "rlimits", "no_new_privs" if has("no_new_privs") else ""]
    if not report.get("abi"):
        gate = "no Landlock (gate only)"
        sockets = "socket kinds" if has("socket_kinds") else ""
        return {
            "readonly": ", ".join(filter(None, [gate, sockets, *common])),
            "guarded": ", ".join([gate, *filter(None, common)]),
            "unrestricted": ", ".join(filter(None, common)),
        }
    readonly = ["reads (cwd, scratch, system files)", "writes (scratch)", "runtime dir"]
    readonly.append("connect/bind (TCP)" if has("net_connect") else "connect NOT limited")
    readonly.append("socket kinds" if has("socket_kinds") else "socket kinds NOT filtered")
    readonly.append("signals" if has("scope_signal") else "signals NOT scoped")
    guarded = ["runtime dir", "writes (with confine_writes)"]
    guarded.append("signals" if has("scope_signal") else "signals NOT scoped")
    return {
        "readonly": ", ".join([*readonly, *filter(None, common)]),
        "guarded": ", ".join([*guarded, *filter(None, common)]),
        "unrestricted": ", ".join(filter(None, common)),
    }


def _probe_prctl(get_option: int, name: str) -> dict[str, Any]:
    value = ctypes.c_int(0)
    try:
        arg: Any = ctypes.byref(value) if get_option == PR_GET_PDEATHSIG else 0
        _prctl(get_option, arg)
    except OSError as error:
        return {"supported": False, "min_abi": 0, "why": f"{name} unavailable: {error.strerror}"}
    return {"supported": True, "min_abi": 0, "why": f"{name} available"}


# ---------------------------------------------------------------- process hygiene


def close_fds_except(keep: set[int]) -> None:
    """Close every open file descriptor not in `keep` (0, 1 and 2 included)."""
    if any(fd < 0 for fd in keep):
        raise ValueError(f"file descriptors are >= 0, got {sorted(keep)}")
    try:
        highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        highest = max(os.sysconf("SC_OPEN_MAX"), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    low = 0
    for fd in sorted(keep):
        # Never call closerange(n, n): CPython 3.11 passes n - 1 to close_range(2),
        # and for n = 0 that wraps to "every descriptor".
        if low < fd:
            os.closerange(low, fd)
        low = fd + 1
    if low <= highest:
        os.closerange(low, highest + 1)


# ---------------------------------------------------------------- scratch directories


def make_scratch_dir(base: str, run_id: str) -> str:
    """Create `<base>/<run_id>` (mode 0700, base 0700 if new) and return its path."""
    if not run_id or run_id in (".", "..") or "/" in run_id or "\0" in run_id:
        raise ValueError(f"run id cannot name a directory: {run_id!r}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    path = os.path.join(os.path.realpath(base), run_id)
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)  # the umask may have removed bits we rely on being exactly these
    return path


def remove_scratch_dir(path: str) -> None:
    """Remove a scratch dir and everything in it, never following a symlink out of it.

    Directories a run left without write or search permission are opened up
    first. A missing path is fine; what cannot be removed raises OSError.
    """
    try:
        entry = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(entry.st_mode):
        os.unlink(path)  # a symlink or file in place of the dir: remove the entry only
        return
    failures: list[tuple[str, BaseException]] = []

    def record_failure(_function: Any, failed: str, info: Any) -> None:
        failures.append((failed, info[1]))

    import shutil  # parent-side only: the worker need not pay for this import

    for _attempt in range(64):
        failures.clear()
        # rmtree works from directory fds and never follows symlinks on Linux.
        shutil.rmtree(path, onerror=record_failure)
        if not os.path.lexists(path):
            return
        opened = [
            _open_up_dir(candidate)
            for failed, _error in failures
            for candidate in (failed, os.path.dirname(failed))
        ]
        if not any(opened):
            failed, error = failures[0] if failures else (path, OSError("unknown"))
            raise OSError(f"cannot remove scratch dir {path}: {failed}: {error}")
    raise OSError(f"cannot remove scratch dir {path}: still present after repeated attempts")


def _open_up_dir(path: str) -> bool:
    """Give the owner rwx on a real directory (not a symlink); True if that changed anything."""
    try:
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_IMODE(mode) & 0o700 == 0o700:
            return False
        # chmod through the fd's /proc entry: an O_PATH fd cannot be fchmod-ed.
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(mode) | 0o700)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
