"""The agent's system prompt and the feedback texts it is sent on a rejected step."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from scoot.shared.actions import ActionSpec, describe_actions

STEP_FORMAT = (
    '{"thought": "<your reasoning>", "action": "<action name>", "action_input": "<input>"}'
)
OBSERVATION_PREFIX = "Observation: "

_MODE_NOTES = {
    "readonly": "You may read inside the working directory but not change anything.",
    "guarded": "Destructive commands are refused.",
    "unrestricted": "Every action is available; act with care.",
}


def system_prompt(
    mode: str, allowed_actions: Sequence[ActionSpec], cwd: str, expect_schema: Any = None
) -> str:
    """What the agent is, where it works, what it may do and how to answer."""
    names = [spec.name for spec in allowed_actions]
    final_line = (
        ""
        if "final" in names
        else "\n- final: finish with the answer. action_input: the answer text"
    )
    return (
        "You are Scoot, an agent that reaches a goal on its own, one action at a time. "
        "Nobody is watching: do not ask questions, decide.\n"
        f"Working directory: {cwd} (relative paths are resolved against it).\n"
        f"Safety mode: {mode}. {_MODE_NOTES.get(mode, _MODE_NOTES['readonly'])} "
        "Only these actions exist; any other is refused:\n"
        f"{describe_actions(names)}{final_line}\n"
        "Reply with exactly one JSON object and nothing else, with three string fields:\n"
        f"{STEP_FORMAT}\n"
        "action_input is always a string; for actions that take an object, put the JSON "
        "object in that string. After each action you receive its result in a message "
        f'starting with "{OBSERVATION_PREFIX.strip()}". When the goal is reached, reply '
        'with the action "final" and the answer as action_input.'
    ) + (_schema_note(expect_schema) if expect_schema is not None else "")


def _schema_note(schema: Any) -> str:
    """A job's expect_schema: the answer is checked against it after the run."""
    return (
        "\nThe answer (action_input of final) must be one JSON document and nothing else, "
        "valid against this JSON Schema; any other answer fails the run:\n"
        + json.dumps(schema, indent=1, sort_keys=True)
    )


def format_feedback(reason: str, allowed_names: Sequence[str]) -> str:
    """Why a reply was rejected and the exact format expected instead."""
    return (
        f"{OBSERVATION_PREFIX}error: your reply was rejected: {reason}. Reply with exactly one "
        f"JSON object and nothing else: {STEP_FORMAT}, where action is one of: "
        f"{', '.join(allowed_names)}."
    )


def observation_message(text: str) -> str:
    """The user message that carries an action's result back to the model."""
    return f"{OBSERVATION_PREFIX}{text}"
