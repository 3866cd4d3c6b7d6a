"""What the running kernel supports, and per mode what a run gets (for `scoot doctor`)."""

from __future__ import annotations

import ctypes
import os
from typing import Any

from scoot.shared.kernel import (
    PR_GET_DUMPABLE,
    PR_GET_NO_NEW_PRIVS,
    PR_GET_PDEATHSIG,
    _prctl,
)
from worker.sandbox.landlock import _create_ruleset, landlock_abi
from worker.sandbox.landlock_plan import LANDLOCK_FEATURES, plan_landlock
from worker.sandbox.seccomp import SECCOMP_ARCHES


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
