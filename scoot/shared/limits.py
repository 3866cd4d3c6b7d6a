"""The resource limits a job or the [sandbox] table may set, and their defaults."""

from __future__ import annotations

LIMIT_KEYS = ("cpu_sec", "address_space_mb", "nofile", "nproc", "fsize_mb")


# nproc stays unset: RLIMIT_NPROC counts every process of the user, daemon included.
DEFAULT_LIMITS: dict[str, int | None] = {
    "cpu_sec": 600,
    "address_space_mb": 2048,
    "nofile": 256,
    "nproc": None,
    "fsize_mb": 256,
}
