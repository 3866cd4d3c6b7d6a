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
import stat
import sys
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from scoot.errors import ScootError

MODES = ("readonly", "guarded", "unrestricted")

# prctl options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

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
    "rlimits",
    "fs_readonly",
    "net_connect",
    "net_bind",
    "scope_signal",
    "scope_abstract_unix",
)
LANDLOCK_KEYS = RESTRICTION_KEYS[3:]

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


@dataclass(frozen=True)
class LandlockPlan:
    """A ruleset for one ABI: what is handled (denied unless a rule allows) and the rules."""

    abi: int
    handled_fs: int
    handled_net: int
    scoped: int
    path_rules: tuple[PathRule, ...]
    port_rules: tuple[tuple[int, int], ...]

    @property
    def attr_size(self) -> int:
        """Size of `struct landlock_ruleset_attr` as this ABI knows it."""
        if self.abi >= 6:
            return 24
        return 16 if self.abi >= 4 else 8


def plan_landlock(abi: int, scratch_dir: str, backend_port: int | None) -> LandlockPlan:
    """The readonly ruleset for `abi`: read anywhere, write only scratch and /dev/null."""
    if abi < 1:
        raise ValueError(f"Landlock ABI must be >= 1, got {abi}")
    if backend_port is not None and not 1 <= backend_port <= 65535:
        raise ValueError(f"backend port must be 1..65535, got {backend_port}")
    handled_fs = fs_rights_known(abi)
    path_rules = (
        PathRule("/", FS_READ_ONLY_RIGHTS & handled_fs),
        PathRule(scratch_dir, handled_fs),
        PathRule(os.devnull, FS_DEVNULL_RIGHTS & handled_fs, optional=True),
    )
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    port_rules: tuple[tuple[int, int], ...] = ()
    if handled_net and backend_port is not None:
        port_rules = ((backend_port, NET_CONNECT_TCP),)
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return LandlockPlan(abi, handled_fs, handled_net, scoped, path_rules, port_rules)


def landlock_restrictions(plan: LandlockPlan, backend_port: int | None) -> dict[str, Restriction]:
    """What an enforced `plan` restricts, entry by entry, with the gaps of its ABI."""
    abi = plan.abi
    scratch_dir = plan.path_rules[1].path
    gaps = []
    if abi < 2:
        gaps.append("renames and links across directories are refused everywhere (ABI 1)")
    if abi < 3:
        gaps.append("truncating files is not restricted (ABI < 3)")
    if abi < 5:
        gaps.append("device ioctls are not restricted (ABI < 5)")
    fs_why = f"Landlock ABI {abi}: writes only under {scratch_dir} and to {os.devnull}"
    entries = {"fs_readonly": Restriction(True, "; ".join([fs_why, *gaps]))}

    def missing(min_abi: int) -> Restriction:
        return Restriction(False, f"needs Landlock ABI {min_abi}, running ABI {abi}")

    if plan.handled_net:
        target = f"port {backend_port} only" if backend_port else "no port (no backend port given)"
        entries["net_connect"] = Restriction(
            True, f"TCP connect to {target}, on any host; UDP (DNS included) is not restricted"
        )
        entries["net_bind"] = Restriction(True, "TCP bind refused on every port")
    else:
        entries["net_connect"] = missing(4)
        entries["net_bind"] = missing(4)
    if plan.scoped:
        entries["scope_signal"] = Restriction(
            True, "signals only to processes of this run (not the daemon)"
        )
        entries["scope_abstract_unix"] = Restriction(
            True, "abstract unix sockets only within this run"
        )
    else:
        entries["scope_signal"] = missing(6)
        entries["scope_abstract_unix"] = missing(6)
    return entries


def landlock_status(restrictions: dict[str, Restriction]) -> str:
    """enforced when every Landlock entry is in force, partial when only some are."""
    applied = [restrictions[key].applied for key in LANDLOCK_KEYS]
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


def summarize(
    mode: str,
    requested_mode: str,
    landlock_state: str,
    abi: int,
    restrictions: dict[str, Restriction],
) -> str:
    """One line an operator can read in `hello` and the audit log."""
    if landlock_state == "enforced":
        landlock = (
            f"Landlock ABI {abi} enforced (writes only to scratch and /dev/null, TCP connect "
            "only to the backend port, no TCP bind, signals and abstract sockets scoped to the run)"
        )
    elif landlock_state == "partial":
        absent = [key for key in LANDLOCK_KEYS if not restrictions[key].applied]
        landlock = f"Landlock ABI {abi} partial (missing: {', '.join(absent)})"
    else:
        landlock = f"no Landlock ({restrictions['fs_readonly'].why})"
    parts = [f"{mode}: {landlock}"]
    if requested_mode != mode:
        parts.append(f"unknown mode {requested_mode!r} treated as readonly")
    for key in ("no_new_privs", "pdeathsig"):
        if not restrictions[key].applied:
            parts.append(f"{key} NOT set ({restrictions[key].why})")
    parts.append(f"rlimits: {restrictions['rlimits'].why}")
    return "; ".join(parts)


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


def _prctl(option: int, arg2: Any = 0) -> int:
    if isinstance(arg2, int):
        arg2 = ctypes.c_ulong(arg2)
    zero = ctypes.c_ulong(0)
    result = int(_libc().prctl(ctypes.c_int(option), arg2, zero, zero, zero))
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
            try:
                path_fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                if rule.optional:
                    continue
                raise
            try:
                beneath = _PathBeneathAttr(rule.access, path_fd)
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
) -> SandboxReport:
    """Put the kernel layer of `mode` in place for the calling process, before any thread starts.

    `max_abi` caps the Landlock ABI used (None: the kernel's best; 0: no Landlock).
    Raises SandboxRefused when a readonly run cannot be confined and must not start.
    """
    applied_mode = effective_mode(mode)
    restrictions = {
        "no_new_privs": set_no_new_privs(),
        "pdeathsig": set_parent_death_signal(parent_pid),
    }
    abi = 0
    if applied_mode == "readonly":
        abi, landlock_entries = _confine_readonly(scratch_dir, backend_port, require, max_abi)
        restrictions.update(landlock_entries)
    else:
        why = (
            "unrestricted run: the operator opted out of confinement"
            if applied_mode == "unrestricted"
            else "guarded run: the policy gate enforces the mode"
        )
        restrictions.update({key: Restriction(False, why) for key in LANDLOCK_KEYS})
    restrictions["rlimits"] = apply_rlimits(limits)
    restrictions = {key: restrictions[key] for key in RESTRICTION_KEYS}
    if applied_mode != "readonly":
        status = "not_applied"
    elif abi == 0:
        status = "unavailable"
    else:
        status = landlock_status(restrictions)
    return SandboxReport(
        mode=applied_mode,
        abi=abi,
        landlock=status,
        enforced=status in ("enforced", "partial"),
        restrictions=restrictions,
        summary=summarize(applied_mode, mode, status, abi, restrictions),
    )


def _confine_readonly(
    scratch_dir: str, backend_port: int | None, require: bool, max_abi: int | None
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
        unavailable = Restriction(False, f"{why}; readonly enforced by the policy gate alone")
        return 0, {key: unavailable for key in LANDLOCK_KEYS}
    threads = _thread_count()
    if threads > 1:
        raise SandboxRefused(
            f"readonly run refused: the worker already has {threads} threads and Landlock "
            "confines only the calling one; apply the sandbox before starting threads"
        )
    plan = plan_landlock(abi, scratch_dir, backend_port)
    try:
        enforce_landlock(plan)
    except OSError as error:
        raise SandboxRefused(
            f"readonly run refused: Landlock is available but could not be applied "
            f"({error.strerror}); check that the scratch dir {scratch_dir} exists"
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
    return {"abi": abi, "available": abi > 0, "why": why, "features": features}


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
