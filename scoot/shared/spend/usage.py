"""Token usage read from a model answer (stdlib only: every worker imports it)."""

from __future__ import annotations

from typing import Any

from scoot.shared.value_class import value_class

# The usage field names of each API: (input, output).
USAGE_FIELDS = {
    "chat": ("prompt_tokens", "completion_tokens"),
    "responses": ("input_tokens", "output_tokens"),
}


@value_class
class Usage:
    """Tokens of one answer (or a sum of answers); `reported` is False when a server said none."""

    input: int = 0
    output: int = 0
    reported: bool = True

    @property
    def total(self) -> int:
        return self.input + self.output

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input + other.input, self.output + other.output, self.reported and other.reported
        )


NONE_REPORTED = Usage(0, 0, reported=False)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value < 0 or value > 2**53:
        return None
    return int(value)


def usage_of(payload: Any, api: str) -> Usage:
    """The usage an answer reports; a missing or malformed usage counts 0, not reported.

    Either API's field names are accepted whatever `api` is, as some servers
    answer Chat Completions with Responses-style names.
    """
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return NONE_REPORTED
    first = USAGE_FIELDS.get(api, USAGE_FIELDS["chat"])
    names = [first] + [pair for pair in USAGE_FIELDS.values() if pair != first]
    for input_name, output_name in names:
        tokens_in = _count(usage.get(input_name))
        tokens_out = _count(usage.get(output_name))
        if tokens_in is not None or tokens_out is not None:
            return Usage(tokens_in or 0, tokens_out or 0, reported=True)
    return NONE_REPORTED
