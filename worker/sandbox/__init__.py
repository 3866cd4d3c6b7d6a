"""Kernel layer of a worker: no_new_privs, parent-death signal, rlimits and Landlock.

`apply()` is called once by a freshly forked worker, before the agent runs and
before any thread starts. Deciding what to restrict is pure (`plan_landlock`,
`plan_rlimits`, `Limits.from_config`); the few functions that call the kernel
stay thin. `probe()` reports what the running kernel supports without
restricting the caller (for `scoot doctor`).

One module per layer: `landlock_plan` (rights and rules, pure), `landlock`
(its system calls), `landlock_report` (what a plan restricts, in words),
`seccomp` (the socket filter), `limits` (rlimits), `report` (the hello
frame's sandbox report), `confine` (`apply`, in order) and `probe`. Hardening the parent shares (non-dumpable, environ scrubbing)
lives in scoot.shared.hardening; fd hygiene and scratch directories are the
parent's (scoot.supervise.fds, scoot.supervise.scratch). The parent imports
from worker/ only the entry it forks into (worker.main), the modules it
preloads for that fork, the doctor's probe (worker.sandbox.probe) and the
backend client the doctor checks with (worker.backend).
"""

from scoot.shared.hardening import (
    Restriction as Restriction,
)
from scoot.shared.hardening import (
    scrub_environ as scrub_environ,
)
from scoot.shared.hardening import (
    set_non_dumpable as set_non_dumpable,
)
from scoot.shared.limits import (
    DEFAULT_LIMITS as DEFAULT_LIMITS,
)
from scoot.shared.limits import (
    LIMIT_KEYS as LIMIT_KEYS,
)
from scoot.shared.policy.modes import MODES as MODES
from worker.sandbox.confine import (
    PARENT_GONE_EXIT_CODE as PARENT_GONE_EXIT_CODE,
)
from worker.sandbox.confine import (
    SandboxRefused as SandboxRefused,
)
from worker.sandbox.confine import (
    apply as apply,
)
from worker.sandbox.confine import (
    set_no_new_privs as set_no_new_privs,
)
from worker.sandbox.confine import (
    set_parent_death_signal as set_parent_death_signal,
)
from worker.sandbox.confine import (
    system_read_paths as system_read_paths,
)
from worker.sandbox.landlock import (
    LANDLOCK_CREATE_RULESET_VERSION as LANDLOCK_CREATE_RULESET_VERSION,
)
from worker.sandbox.landlock import (
    LANDLOCK_RULE_NET_PORT as LANDLOCK_RULE_NET_PORT,
)
from worker.sandbox.landlock import (
    LANDLOCK_RULE_PATH_BENEATH as LANDLOCK_RULE_PATH_BENEATH,
)
from worker.sandbox.landlock import (
    SYS_LANDLOCK_ADD_RULE as SYS_LANDLOCK_ADD_RULE,
)
from worker.sandbox.landlock import (
    SYS_LANDLOCK_CREATE_RULESET as SYS_LANDLOCK_CREATE_RULESET,
)
from worker.sandbox.landlock import (
    SYS_LANDLOCK_RESTRICT_SELF as SYS_LANDLOCK_RESTRICT_SELF,
)
from worker.sandbox.landlock import (
    enforce_landlock as enforce_landlock,
)
from worker.sandbox.landlock import (
    landlock_abi as landlock_abi,
)
from worker.sandbox.landlock_plan import (
    FS_ABI1_ALL as FS_ABI1_ALL,
)
from worker.sandbox.landlock_plan import (
    FS_DEVNULL_RIGHTS as FS_DEVNULL_RIGHTS,
)
from worker.sandbox.landlock_plan import (
    FS_EXECUTE as FS_EXECUTE,
)
from worker.sandbox.landlock_plan import (
    FS_FILE_RIGHTS as FS_FILE_RIGHTS,
)
from worker.sandbox.landlock_plan import (
    FS_IOCTL_DEV as FS_IOCTL_DEV,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_BLOCK as FS_MAKE_BLOCK,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_CHAR as FS_MAKE_CHAR,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_DIR as FS_MAKE_DIR,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_FIFO as FS_MAKE_FIFO,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_REG as FS_MAKE_REG,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_SOCK as FS_MAKE_SOCK,
)
from worker.sandbox.landlock_plan import (
    FS_MAKE_SYM as FS_MAKE_SYM,
)
from worker.sandbox.landlock_plan import (
    FS_READ_DIR as FS_READ_DIR,
)
from worker.sandbox.landlock_plan import (
    FS_READ_FILE as FS_READ_FILE,
)
from worker.sandbox.landlock_plan import (
    FS_READ_ONLY_RIGHTS as FS_READ_ONLY_RIGHTS,
)
from worker.sandbox.landlock_plan import (
    FS_REFER as FS_REFER,
)
from worker.sandbox.landlock_plan import (
    FS_REMOVE_DIR as FS_REMOVE_DIR,
)
from worker.sandbox.landlock_plan import (
    FS_REMOVE_FILE as FS_REMOVE_FILE,
)
from worker.sandbox.landlock_plan import (
    FS_TRUNCATE as FS_TRUNCATE,
)
from worker.sandbox.landlock_plan import (
    FS_WRITE_FILE as FS_WRITE_FILE,
)
from worker.sandbox.landlock_plan import (
    LANDLOCK_FEATURES as LANDLOCK_FEATURES,
)
from worker.sandbox.landlock_plan import (
    NET_BIND_TCP as NET_BIND_TCP,
)
from worker.sandbox.landlock_plan import (
    NET_CONNECT_TCP as NET_CONNECT_TCP,
)
from worker.sandbox.landlock_plan import (
    SCOPE_ABSTRACT_UNIX_SOCKET as SCOPE_ABSTRACT_UNIX_SOCKET,
)
from worker.sandbox.landlock_plan import (
    SCOPE_SIGNAL as SCOPE_SIGNAL,
)
from worker.sandbox.landlock_plan import (
    LandlockPlan as LandlockPlan,
)
from worker.sandbox.landlock_plan import (
    ListDir as ListDir,
)
from worker.sandbox.landlock_plan import (
    PathRule as PathRule,
)
from worker.sandbox.landlock_plan import (
    Reach as Reach,
)
from worker.sandbox.landlock_plan import (
    cwd_reachable as cwd_reachable,
)
from worker.sandbox.landlock_plan import (
    fs_rights_known as fs_rights_known,
)
from worker.sandbox.landlock_plan import (
    grant_except as grant_except,
)
from worker.sandbox.landlock_plan import (
    is_within as is_within,
)
from worker.sandbox.landlock_plan import (
    list_entries as list_entries,
)
from worker.sandbox.landlock_plan import (
    plan_landlock as plan_landlock,
)
from worker.sandbox.landlock_report import (
    landlock_restrictions as landlock_restrictions,
)
from worker.sandbox.limits import (
    MIB as MIB,
)
from worker.sandbox.limits import (
    Limits as Limits,
)
from worker.sandbox.limits import (
    LimitsError as LimitsError,
)
from worker.sandbox.limits import (
    RlimitSetting as RlimitSetting,
)
from worker.sandbox.limits import (
    apply_rlimits as apply_rlimits,
)
from worker.sandbox.limits import (
    plan_rlimits as plan_rlimits,
)
from worker.sandbox.probe import (
    mode_protections as mode_protections,
)
from worker.sandbox.probe import (
    probe as probe,
)
from worker.sandbox.report import (
    ENFORCED_TEXT as ENFORCED_TEXT,
)
from worker.sandbox.report import (
    LANDLOCK_KEYS as LANDLOCK_KEYS,
)
from worker.sandbox.report import (
    RESTRICTION_KEYS as RESTRICTION_KEYS,
)
from worker.sandbox.report import (
    STATUS_KEYS as STATUS_KEYS,
)
from worker.sandbox.report import (
    SandboxReport as SandboxReport,
)
from worker.sandbox.report import (
    effective_mode as effective_mode,
)
from worker.sandbox.report import (
    landlock_status as landlock_status,
)
from worker.sandbox.report import (
    summarize as summarize,
)
from worker.sandbox.seccomp import (
    INET_FAMILIES as INET_FAMILIES,
)
from worker.sandbox.seccomp import (
    INET_PROTOCOLS_ALLOWED as INET_PROTOCOLS_ALLOWED,
)
from worker.sandbox.seccomp import (
    IO_URING_SYSCALLS as IO_URING_SYSCALLS,
)
from worker.sandbox.seccomp import (
    SECCOMP_ARCHES as SECCOMP_ARCHES,
)
from worker.sandbox.seccomp import (
    SOCK_TYPE_MASK as SOCK_TYPE_MASK,
)
from worker.sandbox.seccomp import (
    SOCKET_FAMILIES_ALLOWED as SOCKET_FAMILIES_ALLOWED,
)
from worker.sandbox.seccomp import (
    SOCKET_TYPES_ALLOWED as SOCKET_TYPES_ALLOWED,
)
from worker.sandbox.seccomp import (
    X32_SYSCALL_BIT as X32_SYSCALL_BIT,
)
from worker.sandbox.seccomp import (
    apply_socket_filter as apply_socket_filter,
)
from worker.sandbox.seccomp import (
    socket_filter_program as socket_filter_program,
)
