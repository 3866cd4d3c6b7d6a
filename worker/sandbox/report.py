"""The sandbox report a worker sends in its hello frame: what was enforced, summarised."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from scoot.shared.hardening import Restriction
from scoot.shared.policy.modes import MODES
from scoot.shared.value_class import value_class

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


@value_class
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


def effective_mode(mode: str) -> str:
    """The mode the kernel layer applies: an unknown mode is readonly, never looser."""
    return mode if mode in MODES else "readonly"


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
