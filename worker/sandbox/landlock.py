"""Landlock system calls: probe the ABI, build a ruleset from a plan and restrict this thread."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
from typing import Any

from scoot.shared.kernel import _syscall
from worker.sandbox.landlock_plan import FS_FILE_RIGHTS, LandlockPlan

# Landlock system calls come from the generic table: the same numbers on
# x86_64 and aarch64. Arguments go to syscall(2) as longs, the width it reads.
SYS_LANDLOCK_CREATE_RULESET = 444


SYS_LANDLOCK_ADD_RULE = 445


SYS_LANDLOCK_RESTRICT_SELF = 446


LANDLOCK_CREATE_RULESET_VERSION = 1 << 0


LANDLOCK_RULE_PATH_BENEATH = 1


LANDLOCK_RULE_NET_PORT = 2


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
