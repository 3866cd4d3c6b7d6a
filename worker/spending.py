"""A run's backends in fallback order and the meter of what it spends.

Imported by the worker before its sandbox is applied; stdlib and scoot.shared only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scoot.shared.run_spec import BackendSpec
from scoot.shared.spend.budget import Allowance, cost_of, stop_reason
from scoot.shared.spend.usage import Usage
from scoot.shared.value_class import value_class

Emit = Callable[[dict[str, Any]], None]


@value_class
class Link:
    """One backend of a run's chain: its name, its client and its prices per million tokens."""

    name: str
    backend: Any  # worker.backend.Backend
    price_in: float = 0.0
    price_out: float = 0.0


def link_of(settings: BackendSpec, make: Callable[[BackendSpec], Any]) -> Link:
    """The link of one backend of the spec, its client made by `make`."""
    return Link(settings.name, make(settings), settings.price_input, settings.price_output)


class Meter:
    """Counts every answer's tokens, reports them in `usage` frames, and says when to stop."""

    def __init__(self, allowance: Allowance, emit: Emit) -> None:
        self.allowance = allowance
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
        return stop_reason(self.tokens_in + self.tokens_out, self.cost, self.allowance.to_dict())
