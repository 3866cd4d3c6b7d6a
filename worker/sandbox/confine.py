"""The worker's confinement, applied in order before any tool runs; irreversible."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from functools import cache

from scoot.errors import ScootError
from scoot.shared.hardening import Restriction, set_non_dumpable
from scoot.shared.kernel import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, _prctl
from worker.sandbox.landlock import enforce_landlock, landlock_abi
from worker.sandbox.landlock_plan import Reach, plan_landlock
from worker.sandbox.landlock_report import landlock_restrictions
from worker.sandbox.limits import Limits, apply_rlimits
from worker.sandbox.report import (
    LANDLOCK_KEYS,
    RESTRICTION_KEYS,
    SandboxReport,
    effective_mode,
    landlock_status,
    summarize,
)
from worker.sandbox.seccomp import apply_socket_filter

# Exit status of a worker whose parent died before the sandbox was applied.
PARENT_GONE_EXIT_CODE = 75


class SandboxRefused(ScootError):
    """The run must not start: its sandbox cannot be put in place."""


def _thread_count() -> int:
    # Read as bytes: a text file would look up its codec, an import from disk in every worker.
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    import threading  # /proc unavailable: Python's own threads are the best we can see

    return threading.active_count()


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
