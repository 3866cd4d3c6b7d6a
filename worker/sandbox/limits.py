"""Resource limits: parsed from the config, planned against the current limits, applied."""

from __future__ import annotations

import resource
import signal
from typing import Any

from scoot.shared.hardening import Restriction
from scoot.shared.limits import DEFAULT_LIMITS, LIMIT_KEYS
from scoot.shared.value_class import value_class

MIB = 1024 * 1024


class LimitsError(ValueError):
    """A configured limit is not a whole number >= 0."""


@value_class
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


@value_class
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
