"""The ReACT loop of one run: ask the model, check its step, gate it, run it, feed back.

Every turn is audited and recorded in the session through `emit` frames; the
run ends with a result body (status ok, error or denied). The model must
answer each turn with one JSON object `{"thought", "action", "action_input"}`
of strings; anything else is rejected with feedback and still counts as a
turn, so a confused model cannot run forever. A run ends `denied` when the
turns ran out and every action it attempted was refused by the policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from scoot.shared.actions import ACTIONS, ActionInputError, ParsedAction, parse_input
from scoot.shared.clipping import LINES_MARK, clip
from scoot.shared.policy import allowed_actions, decide
from scoot.shared.redaction import redact, secret_forms
from scoot.shared.run_spec import BackendSpec, RunSpec
from scoot.shared.spend.backends import is_unavailable
from scoot.shared.value_class import value_class
from worker import prompt
from worker.backend import Backend, BackendError, one_line
from worker.spending import Link, Meter, link_of
from worker.tools import ToolError, run_tool

Emit = Callable[[dict[str, Any]], None]

# A step longer than this is refused; it also keeps every frame far below 1 MiB.
MAX_REPLY_CHARS = 128 * 1024
# Rejected replies stay in the history only this long, so they are not resent whole.
REJECTED_REPLY_CHARS = 2000
GOAL_AUDIT_CHARS = 500
INPUT_AUDIT_CHARS = 300
TEXT_AUDIT_CHARS = 2000
STEP_FIELDS = ("thought", "action", "action_input")

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    int: "a number",
    float: "a number",
    bool: "true/false",
    type(None): "null",
}
_FENCED = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(.*)\n[ \t]*```\Z", re.DOTALL)


class StepFormatError(ValueError):
    """A model reply that is not one step; the message says exactly what is wrong."""


@value_class
class Step:
    thought: str
    action: str
    action_input: str


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise StepFormatError(f"field {key!r} appears twice")
        seen[key] = value
    return seen


def parse_step(reply: str) -> Step:
    """The step in a model reply, or StepFormatError.

    Accepted: one JSON object with exactly the string fields thought, action
    and action_input, optionally inside one fenced code block, with
    surrounding whitespace. Nothing else.
    """
    if len(reply) > MAX_REPLY_CHARS:
        raise StepFormatError(f"reply is {len(reply)} characters long; at most {MAX_REPLY_CHARS}")
    try:
        reply.encode("utf-8")
    except UnicodeEncodeError:
        raise StepFormatError("reply is not valid UTF-8 text") from None
    text = reply.strip()
    fenced = _FENCED.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text.startswith("{"):
        raise StepFormatError("reply is not a JSON object (it must start with '{')")
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            raise StepFormatError("there is text after the JSON object") from None
        raise StepFormatError(
            f"reply is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except RecursionError:
        raise StepFormatError("reply is nested too deeply") from None
    missing = [name for name in STEP_FIELDS if name not in value]
    if missing:
        raise StepFormatError(f"missing field(s): {', '.join(missing)}")
    extra = sorted(set(value) - set(STEP_FIELDS))
    if extra:
        raise StepFormatError(f"unexpected field(s): {', '.join(map(repr, extra))}")
    for name in STEP_FIELDS:
        if not isinstance(value[name], str):
            kind = _JSON_TYPES.get(type(value[name]), "something else")
            raise StepFormatError(f"field {name!r} must be a string, got {kind}")
    return Step(value["thought"], value["action"], value["action_input"])


def valid_text(text: str) -> str:
    """`text` with lone surrogates escaped, so it can always be encoded as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def backend_of(settings: BackendSpec) -> Backend:
    """The model client of one backend of the spec (raises BackendError or ValueError)."""
    return Backend(
        base_url=settings.base_url,
        model=settings.model,
        api=settings.api,
        timeout_ms=settings.timeout_ms,
        token=settings.token or None,
        extra_body=dict(settings.extra_body),
        retries=settings.retries,
    )


class _Channel:
    """The frames of one run: secrets scrubbed, text made valid and kept small."""

    def __init__(self, emit: Emit, *tokens: str | None) -> None:
        self._emit = emit
        forms = {f for each in tokens if each and each.strip() for f in secret_forms(each)}
        self._forms = sorted(
            forms, key=len, reverse=True
        )  # a longer form is never cut by a shorter

    def clean(self, text: str) -> str:
        """Valid text with every token and its encodings redacted; call before any clipping."""
        return redact(valid_text(text), self._forms)

    def emit(self, frame: dict[str, Any]) -> None:
        self._emit(frame)

    def audit(self, kind: str, msg: str, limit: int = MAX_REPLY_CHARS) -> None:
        self._emit({"type": "audit", "kind": kind, "msg": clip(self.clean(msg), limit)})

    def session(self, role: str, content: str) -> None:
        self._emit(
            {
                "type": "session",
                "role": role,
                "content": clip(self.clean(content), MAX_REPLY_CHARS),
            }
        )


def _result(status: str, *, answer: str | None = None, error: str | None = None) -> dict[str, Any]:
    return {"status": status, "answer": answer, "error": error}


class _Run:
    """State of one ReACT loop; each method is one part of a turn."""

    def __init__(self, spec: RunSpec, channel: _Channel) -> None:
        self.channel = channel
        self.mode = spec.mode
        self.cwd = spec.cwd
        self.max_turns = spec.max_turns
        self.tool_timeout_s = spec.tools.timeout_ms / 1000
        self.observation_chars = spec.tools.max_observation_chars
        self.confine_writes = spec.tools.confine_writes
        # Like the gate, the tool's own connect-time check binds guarded runs, not
        # unrestricted ones (their operator opted in to any destination).
        self.block_internal_http = spec.tools.block_internal_http and self.mode != "unrestricted"
        # The token's variable is kept out of tool subprocesses, wherever it came from.
        self.scrub_env = (spec.api_key_env,) if spec.api_key_env else ()
        self.protected = spec.protected
        self.action_names = allowed_actions(self.mode)
        self.expect_schema = spec.expect_schema  # a job's result schema, or None
        self.actions_tried = 0
        self.actions_denied = 0
        self.last_denial = ""
        self.history: list[dict[str, Any]] = []

    def start(self, goal: str) -> None:
        system = prompt.system_prompt(
            self.mode, [ACTIONS[n] for n in self.action_names], self.cwd, self.expect_schema
        )
        self.channel.audit(
            "run",
            f"mode={self.mode} max_turns={self.max_turns} "
            f"goal={one_line(self.channel.clean(goal), GOAL_AUDIT_CHARS)}",
        )
        self.channel.session("system", system)
        self.channel.session("user", goal)
        self.history = [
            {"role": "system", "content": system},
            {"role": "user", "content": valid_text(goal)},
        ]

    def loop(self, links: list[Link], meter: Meter) -> dict[str, Any]:
        for turn in range(1, self.max_turns + 1):
            reason = meter.stop_reason()
            if reason is not None:
                # Before the request, not after: what a run may spend is a limit, not a goal.
                self.channel.audit("system_error", f"stopped before turn {turn}: {reason}")
                return _result("budget", error=reason)
            answered = self.ask(links)
            if isinstance(answered, dict):
                return answered
            reply, link = answered
            meter.count(link.backend.last_usage, link)
            result = self.take_turn(turn, reply)
            if result is not None:
                return result
        return self.out_of_turns()

    def ask(self, links: list[Link]) -> tuple[str, Link] | dict[str, Any]:
        """The model's reply and the backend that gave it, or the run's error result.

        A backend that is unavailable (unreachable, 5xx or 429 after its own
        retries) hands over to its fallback, for this turn and the rest of the
        run; any other failure ends the run, as does the last backend failing.
        """
        while True:
            link = links[0]
            try:
                return link.backend.complete(self.history), link
            except BackendError as error:
                if len(links) > 1 and is_unavailable(error.kind, error.retryable):
                    self.channel.emit(
                        {
                            "type": "fallback",
                            "from": link.name,
                            "to": links[1].name,
                            "reason": self.channel.clean(error.message),
                        }
                    )
                    del links[0]
                    continue
                self.channel.audit("system_error", error.message)
                return _result("error", error=error.message)

    def take_turn(self, turn: int, reply: str) -> dict[str, Any] | None:
        """One model reply handled; a result when the run is over."""
        self.channel.session("assistant", reply)
        try:
            step = parse_step(reply)
        except StepFormatError as error:
            self.history.append(
                {"role": "assistant", "content": clip(valid_text(reply), REJECTED_REPLY_CHARS)}
            )
            self.channel.audit("system_error", f"rejected model reply (turn {turn}): {error}")
            self.feed_back(prompt.format_feedback(str(error), self.action_names))
            return None
        self.history.append({"role": "assistant", "content": reply})
        if step.thought:
            self.channel.audit("thought", step.thought, TEXT_AUDIT_CHARS)
        try:
            parsed = parse_input(step.action, step.action_input)
        except ActionInputError as error:
            self.channel.audit("system_error", f"rejected step (turn {turn}): {error}")
            self.feed_back(prompt.observation_message(f"error: {error}"))
            return None
        if parsed.action == "final":
            answer = str(parsed.args["answer"])
            self.channel.audit("final", answer, TEXT_AUDIT_CHARS)
            return _result("ok", answer=self.channel.clean(answer))
        self.act(parsed, step.action_input)
        return None

    def act(self, parsed: ParsedAction, action_input: str) -> None:
        """Gate and run one tool action, then feed its observation back."""
        self.actions_tried += 1
        self.channel.audit(
            "tool_call",
            f"{parsed.action} {one_line(self.channel.clean(action_input), INPUT_AUDIT_CHARS)}",
        )
        decision = decide(
            parsed,
            self.mode,
            cwd=self.cwd,
            confine_writes=self.confine_writes,
            block_internal_http=self.block_internal_http,
            protected=self.protected,
        )
        if not decision.allowed:
            self.actions_denied += 1
            self.last_denial = decision.reason
            self.channel.audit("policy_deny", f"{parsed.action}: {decision.reason}")
            self.feed_back(prompt.observation_message(f"denied: {decision.reason}"))
            return
        try:
            output = run_tool(
                parsed,
                cwd=self.cwd,
                timeout_s=self.tool_timeout_s,
                block_internal_http=self.block_internal_http,
                scrub_env=self.scrub_env,
                protected=None if self.mode == "unrestricted" else self.protected,
            )
        except ToolError as error:
            output = f"error: {error}"
        except OSError as error:
            output = f"error: {error.strerror or error}"
        observation = clip(
            self.channel.clean(output),
            self.observation_chars,
            tail=1 / 3,
            mark=LINES_MARK,
            fit=True,
        )
        self.channel.audit("observation", observation)
        self.feed_back(prompt.observation_message(observation))

    def feed_back(self, message: str) -> None:
        """Send `message` to the model as the next user turn and record it."""
        message = self.channel.clean(message)
        self.channel.session("observation", message)
        self.history.append({"role": "user", "content": message})

    def out_of_turns(self) -> dict[str, Any]:
        if self.actions_tried and self.actions_denied == self.actions_tried:
            error = (
                f"stopped after {self.max_turns} turns: every action was denied by the "
                f"{self.mode} policy (last: {one_line(self.last_denial)})"
            )
            return _result("denied", error=error)
        error = f"stopped after {self.max_turns} turns without a final answer (agent.max_turns)"
        return _result("error", error=error)


def run_agent(
    spec: RunSpec,
    emit: Emit,
    *,
    backend: Backend | None = None,
    ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the goal of `spec` to an end; returns the result body (status, answer, error).

    `backend` replaces the client of the spec's first backend (and its fallbacks).
    `ready` (a run started ahead of its instant) is called once all is set for the
    first model request, its connection open, just before it; it returns at the go.
    """
    channel = _Channel(emit, *[item.token for item in spec.backends])
    run = _Run(spec, channel)
    run.start(spec.goal)
    if backend is not None:
        links = [link_of(spec.backend, lambda _settings: backend)]
    else:
        try:
            links = [link_of(item, backend_of) for item in spec.backends]
        except BackendError as error:
            channel.audit("system_error", error.message)
            return _result("error", error=channel.clean(error.message))
        except (TypeError, ValueError) as error:
            message = f"invalid [backend] settings ({error}); check the configuration"
            channel.audit("system_error", message)
            return _result("error", error=channel.clean(message))
    meter = Meter(spec.budget, channel.emit)
    if ready is not None:
        links[0].backend.connect_early()
        ready()
    result = run.loop(links, meter)
    if result["error"] is not None:
        result["error"] = channel.clean(result["error"])
    return result
