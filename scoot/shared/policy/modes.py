"""Run modes, the unattended mode lattice and which actions each mode allows."""

from __future__ import annotations

from scoot.shared.actions import ACTIONS
from scoot.shared.value_class import value_class

UNRESTRICTED = "unrestricted"


GUARDED = "guarded"


READONLY = "readonly"


# Least to most restrictive.
MODES: tuple[str, ...] = (UNRESTRICTED, GUARDED, READONLY)


_READONLY_ACTIONS = ("file_read", "grep", "glob", "final")


_ALL_ACTIONS = tuple(ACTIONS)


def is_known_mode(mode: object) -> bool:
    """True for the exact (lower-case) names in MODES."""
    return isinstance(mode, str) and mode in MODES


def stricter(a: str, b: str) -> str:
    """The more restrictive of two modes; an unknown mode counts as readonly."""
    rank_a = MODES.index(a) if is_known_mode(a) else MODES.index(READONLY)
    rank_b = MODES.index(b) if is_known_mode(b) else MODES.index(READONLY)
    return MODES[max(rank_a, rank_b)]


@value_class
class ModeResolution:
    """The mode an unattended run gets, and why."""

    requested: str | None
    effective: str
    coerced: bool
    reason: str
    warning: str | None


@value_class
class Decision:
    """The gate's verdict on one action; `reason` is given for allows too."""

    allowed: bool
    reason: str


UNRESTRICTED_WARNING = (
    "mode unrestricted: this unattended run may write files, run any command "
    "and use the network (explicit opt-in)"
)


def _unknown_mode_text(mode: object) -> str:
    return f"unknown mode {mode!r} (expected one of: {', '.join(reversed(MODES))})"


def effective_unattended_mode(
    requested: str | None, *, ceiling: str | None = None
) -> ModeResolution:
    """Resolve the mode of an unattended run (a scheduled job, `-e --unattended`).

    Missing -> readonly; guarded -> readonly (coerced); readonly stays;
    unrestricted stays, with a warning, because it is an explicit opt-in; an
    unknown value never loosens: readonly, coerced, warned. A `ceiling` then
    clamps to the stricter of the two (an unknown ceiling counts as readonly).
    """
    warnings: list[str] = []
    coerced = False
    if requested is None or requested == "":
        effective, reason = READONLY, "no mode set; unattended runs default to readonly"
    elif requested == GUARDED:
        effective, coerced = READONLY, True
        reason = "guarded is coerced to readonly for unattended runs"
    elif requested == READONLY:
        effective, reason = READONLY, "readonly as requested"
    elif requested == UNRESTRICTED:
        effective, reason = UNRESTRICTED, "unrestricted as explicitly requested"
        warnings.append(UNRESTRICTED_WARNING)
    else:
        effective, coerced = READONLY, True
        reason = f"{_unknown_mode_text(requested)} is treated as readonly"
        warnings.append(f"{_unknown_mode_text(requested)}; using readonly")

    if ceiling is not None:
        if not is_known_mode(ceiling):
            warnings.append(f"ceiling {_unknown_mode_text(ceiling)}; using readonly as ceiling")
        clamped = stricter(effective, ceiling)
        if clamped != effective:
            reason = f"{reason}; clamped to {clamped} by the configured ceiling"
            effective, coerced = clamped, True
            # The opt-in no longer applies once the ceiling has removed it.
            warnings = [w for w in warnings if w != UNRESTRICTED_WARNING]

    return ModeResolution(
        requested=requested,
        effective=effective,
        coerced=coerced,
        reason=reason,
        warning="; ".join(warnings) or None,
    )


def allowed_actions(mode: str) -> list[str]:
    """The actions `mode` may use, for the system prompt (unknown mode -> readonly's)."""
    if mode in (GUARDED, UNRESTRICTED):
        return list(_ALL_ACTIONS)
    return list(_READONLY_ACTIONS)
