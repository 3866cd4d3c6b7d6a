"""What the scripted model answers: the conversation a request carries, reply and error bodies."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

from scoot.testing.model_server.script import USAGE_UNSET, Step, Usage


def _text_of(content: object) -> str:
    """The text of a message's content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def conversation_of(history: object) -> tuple[str, int, int]:
    """(goal, turn index, message count) of a request's messages or Responses input."""
    if isinstance(history, str):
        return history, 0, 1
    if not isinstance(history, list):
        return "", 0, 0
    goal = next(
        (
            _text_of(item.get("content"))
            for item in history
            if isinstance(item, dict) and item.get("role") == "user"
        ),
        "",
    )
    turn = sum(1 for item in history if isinstance(item, dict) and item.get("role") == "assistant")
    return goal, turn, len(history)


def chat_reply(reply_id: str, model: str, step: Step, usage: Usage = USAGE_UNSET) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content, "refusal": None}
    if step.refusal is not None:
        message = {"role": "assistant", "content": None, "refusal": step.refusal}
    reply: dict[str, Any] = {
        "id": reply_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    tokens = (0, 0) if usage == USAGE_UNSET else usage
    if isinstance(tokens, tuple):
        reply["usage"] = {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": tokens[0] + tokens[1],
        }
    return reply


def responses_reply(
    reply_id: str, model: str, step: Step, usage: Usage = USAGE_UNSET
) -> dict[str, Any]:
    if step.refusal is not None:
        parts: list[dict[str, Any]] = [{"type": "refusal", "refusal": step.refusal}]
    else:
        parts = [{"type": "output_text", "text": step.content or "", "annotations": []}]
    reply: dict[str, Any] = {
        "id": reply_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": f"msg-{reply_id}",
                "role": "assistant",
                "status": "completed",
                "content": parts,
            }
        ],
    }
    if step.refusal is None:
        reply["output_text"] = step.content or ""
    if isinstance(usage, tuple):
        reply["usage"] = {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return reply


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}
