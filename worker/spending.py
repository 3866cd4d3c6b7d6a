"""A run's backends in fallback order and the meter of what it spends.

Imported by the worker before its sandbox is applied; stdlib and scoot.shared.spend only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scoot.shared.spend.budget import cost_of, stop_reason
from scoot.shared.spend.usage import Usage

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Link:
    """One backend of a run's chain: its name, its client and its prices per million tokens."""

    name: str
    backend: Any  # worker.backend.Backend
    price_in: float = 0.0
    price_out: float = 0.0


def _price(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return 0.0


def link_settings(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings of each backend of the spec, the run's own first, then its fallbacks."""
    first = dict(spec.get("backend") or {})
    first.setdefault("name", spec.get("backend_name") or "default")
    first.setdefault("token", spec.get("token"))
    return [first, *[dict(item) for item in spec.get("fallbacks") or () if isinstance(item, dict)]]


def link_of(settings: dict[str, Any], make: Callable[[dict[str, Any]], Any]) -> Link:
    prices = settings.get("prices") or {}
    return Link(
        str(settings.get("name") or "default"),
        make(settings),
        _price(prices.get("input")),
        _price(prices.get("output")),
    )


class Meter:
    """Counts every answer's tokens, reports them in `usage` frames, and says when to stop."""

    def __init__(self, allowance: dict[str, Any] | None, emit: Emit) -> None:
        self.allowance = dict(allowance or {})
        self.emit = emit
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0

    def count(self, usage: Usage, link: Link) -> None:
        self.tokens_in += usage.input
        self.tokens_out += usage.output
        self.cost += cost_of(usage.input, usage.output, link.price_in, link.price_out)
        self.emit(
            {
                "type": "usage",
                "input": usage.input,
                "output": usage.output,
                "reported": usage.reported,
                "backend": link.name,
            }
        )

    def stop_reason(self) -> str | None:
        """Why the next model request must not be sent, or None."""
        return stop_reason(self.tokens_in + self.tokens_out, self.cost, self.allowance)
