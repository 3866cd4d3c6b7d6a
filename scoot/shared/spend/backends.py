"""Named backends: which one a run uses, where it falls back to, caps and prices (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT = "default"
# Why a backend counts as unavailable (a fallback is followed only then): the
# worker's BackendError kinds, with "http" only for 5xx and 429 (after retries).
UNAVAILABLE_KINDS = frozenset({"unreachable"})


def is_unavailable(kind: str, retryable: bool) -> bool:
    """An answer that says the backend is not there: unreachable, or 5xx/429 after retries.

    A refusal, a bad key, a wrong model or a malformed answer is the backend
    answering; following a fallback then would hide a mistake.
    """
    return kind in UNAVAILABLE_KINDS or (kind == "http" and retryable)


def chain(backends: Mapping[str, Any], first: str) -> list[str]:
    """`first` and then each fallback in turn, each name once (a loop ends the chain)."""
    names: list[str] = []
    name: str | None = first
    while name and name in backends and name not in names:
        names.append(name)
        name = getattr(backends[name], "fallback", "") or None
    return names


def reference_problems(backends: Mapping[str, Any]) -> list[str]:
    """Fallbacks that name no backend, or lead back to themselves."""
    problems = []
    for name, backend in backends.items():
        target = getattr(backend, "fallback", "")
        if not target:
            continue
        shown = "[backend]" if name == DEFAULT else f"[backends.{name}]"
        if target not in backends:
            known = ", ".join(sorted(backends))
            problems.append(f"{shown} fallback = {target!r} names no backend (known: {known})")
        elif name in chain(backends, target):
            problems.append(f"{shown} fallback = {target!r} makes a loop; end the chain")
    return problems


def free_slot(backend: str, caps: Mapping[str, int], running: Iterable[str]) -> bool:
    """Whether one more run may use `backend` now; a cap of 0 is no cap."""
    cap = caps.get(backend, 0)
    if cap <= 0:
        return True
    return sum(1 for name in running if name == backend) < cap


def priced(backend: Any) -> bool:
    return bool(
        getattr(backend, "price_per_mtok_input", 0) or getattr(backend, "price_per_mtok_output", 0)
    )
