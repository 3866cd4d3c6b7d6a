"""What an enforced Landlock plan restricts, entry by entry, in the words of the sandbox report."""

from __future__ import annotations

import os

from scoot.shared.hardening import Restriction
from worker.sandbox.landlock_plan import (
    SCOPE_ABSTRACT_UNIX_SOCKET,
    SCOPE_SIGNAL,
    LandlockPlan,
    Reach,
    cwd_reachable,
)


def landlock_restrictions(plan: LandlockPlan, backend_port: int | None) -> dict[str, Restriction]:
    """What an enforced `plan` restricts, entry by entry, with the gaps of its ABI."""
    reach = plan.reach or Reach(cwd=None, scratch_dir="")
    read_why, fs_why = _filesystem_texts(plan, reach)
    entries = {
        "fs_read": Restriction(True, read_why),
        "fs_readonly": Restriction(True, fs_why),
        "runtime_dir": Restriction(
            True,
            "no reads or writes of " + (", ".join(reach.protected) or "(none named)"),
        ),
    }
    entries.update(_network_entries(plan))
    entries.update(_scope_entries(plan))
    return entries


def _abi_gaps(abi: int) -> list[str]:
    gaps = []
    if abi < 2:
        gaps.append("renames and links across directories are refused everywhere (ABI 1)")
    if abi < 3:
        gaps.append("truncating files is not restricted (ABI < 3)")
    if abi < 5:
        gaps.append("device ioctls are not restricted (ABI < 5)")
    return gaps


def _filesystem_texts(plan: LandlockPlan, reach: Reach) -> tuple[str, str]:
    """What a run may read, and what it may write with the gaps of the ABI."""
    abi = plan.abi
    scratch_dir = reach.scratch_dir
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
    return read_why, "; ".join([fs_why, *_abi_gaps(abi)])


def _missing(plan: LandlockPlan, min_abi: int) -> Restriction:
    return Restriction(False, f"needs Landlock ABI {min_abi}, running ABI {plan.abi}")


def _network_entries(plan: LandlockPlan) -> dict[str, Restriction]:
    if plan.mode == "guarded":
        unrestricted = Restriction(False, "guarded run: the network is not restricted")
        return {"net_connect": unrestricted, "net_bind": unrestricted}
    if not plan.handled_net:
        return {"net_connect": _missing(plan, 4), "net_bind": _missing(plan, 4)}
    ports = ", ".join(str(port) for port, _ in plan.port_rules)  # fallbacks' too
    target = f"port {ports} only" if ports else "no port (no backend port given)"
    return {
        "net_connect": Restriction(
            True, f"TCP connect to {target}, on any host; UDP (DNS included) is not restricted"
        ),
        "net_bind": Restriction(True, "TCP bind refused on every port"),
    }


def _scope_entries(plan: LandlockPlan) -> dict[str, Restriction]:
    entries: dict[str, Restriction] = {}
    if plan.scoped & SCOPE_SIGNAL:
        entries["scope_signal"] = Restriction(
            True, "signals only to processes of this run (not the daemon)"
        )
    else:
        entries["scope_signal"] = _missing(plan, 6)
    if plan.scoped & SCOPE_ABSTRACT_UNIX_SOCKET:
        entries["scope_abstract_unix"] = Restriction(
            True, "abstract unix sockets only within this run"
        )
    elif plan.mode == "guarded":
        entries["scope_abstract_unix"] = Restriction(
            False, "guarded run: abstract unix sockets are not restricted"
        )
    else:
        entries["scope_abstract_unix"] = _missing(plan, 6)
    return entries
