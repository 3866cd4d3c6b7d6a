"""Landlock rights and the plan of path and port rules for a mode; pure, no system calls."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from scoot.shared.value_class import value_class

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


@value_class
class PathRule:
    path: str
    access: int
    optional: bool = False  # a missing optional path is skipped, not an error
    # An entry found by listing a directory: opened without following a symlink,
    # and skipped if it became one, so a swapped-in link cannot widen the grant.
    entry: bool = False


@value_class
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


@value_class
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
    rules = _path_rules(mode, reach, scratch_dir, handled_fs, list_dir)
    handled_net, port_rules, scoped = _net_and_scopes(mode, abi, backend_port, reach)
    return LandlockPlan(abi, handled_fs, handled_net, scoped, tuple(rules), port_rules, mode, reach)


def _path_rules(
    mode: str, reach: Reach, scratch_dir: str, handled_fs: int, list_dir: ListDir
) -> list[PathRule]:
    """The filesystem rules of `mode`: what it may read and write, the protected paths left out."""
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
    return rules


def _net_and_scopes(
    mode: str, abi: int, backend_port: int | None, reach: Reach
) -> tuple[int, tuple[tuple[int, int], ...], int]:
    """The handled network rights, the port rules and the scopes of `mode` for `abi`."""
    if mode == "guarded":
        # A guarded tool may not signal the daemon or the user's other processes
        # (`kill`, `pkill -u`); abstract sockets stay open for the programs it runs.
        return 0, (), SCOPE_SIGNAL if abi >= 6 else 0
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    port_rules: tuple[tuple[int, int], ...] = ()
    if handled_net and backend_port is not None:
        ports = dict.fromkeys((backend_port, *reach.fallback_ports))
        port_rules = tuple((port, NET_CONNECT_TCP) for port in ports if 1 <= port <= 65535)
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return handled_net, port_rules, scoped


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
