"""The run spec: everything a worker is told about its run, as one versioned, typed value.

The parent builds it (scoot.supervise.spec.build_spec) and sends it down the
spec pipe as one JSON object; the worker parses and checks it once
(`RunSpec.from_dict`) and from then on reads typed fields only. Every field
is required: the defaults live in the parent's configuration, never on the
worker side. A spec of another version, with a field missing, of the wrong
type or unknown, is refused with one line naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from scoot.shared.limits import LIMIT_KEYS
from scoot.shared.policy.paths import ProtectedPaths
from scoot.shared.spend.budget import Allowance

RUN_SPEC_VERSION = "scoot.run_spec.v1"

T = TypeVar("T")


class RunSpecError(ValueError):
    """A run spec the worker cannot use; the message names the field and what is wrong."""


@dataclass(frozen=True)
class BackendSpec:
    """One model backend of a run: where it is, how to call it, its key and its prices."""

    name: str
    token: str | None
    base_url: str
    model: str
    api: str
    timeout_ms: int
    extra_body: Mapping[str, Any]
    retries: int
    price_input: float  # per million tokens
    price_output: float


@dataclass(frozen=True)
class ToolSettings:
    timeout_ms: int
    confine_writes: bool
    block_internal_http: bool
    max_observation_chars: int


@dataclass(frozen=True)
class SandboxSpec:
    """The kernel layer's inputs: resource limits (None: no limit) and what it protects."""

    require: bool
    limits: Mapping[str, int | None]
    scratch_dir: str
    protected: tuple[str, ...]
    workspace_root: str


@dataclass(frozen=True)
class RunSpec:
    """One run as its worker receives it."""

    run_id: str
    session_id: str
    job_id: str | None
    goal: str
    mode: str
    cwd: str
    api_key_env: str | None  # the token's variable, kept out of every tool's environment
    backend: BackendSpec
    fallbacks: tuple[BackendSpec, ...]  # tried in order when the backend is unavailable
    budget: Allowance
    max_turns: int
    tools: ToolSettings
    protected: ProtectedPaths  # what the gate keeps every tool away from
    sandbox: SandboxSpec
    expect_schema: Mapping[str, Any] | None  # a job's result schema, told to the model

    @property
    def backends(self) -> tuple[BackendSpec, ...]:
        """The run's own backend, then its fallbacks."""
        return (self.backend, *self.fallbacks)

    def to_dict(self) -> dict[str, Any]:
        """The wire form, which `from_dict` reads back to an equal spec."""
        return {
            "version": RUN_SPEC_VERSION,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "job_id": self.job_id,
            "goal": self.goal,
            "mode": self.mode,
            "cwd": self.cwd,
            "api_key_env": self.api_key_env,
            "backend": _backend_dict(self.backend),
            "fallbacks": [_backend_dict(item) for item in self.fallbacks],
            "budget": self.budget.to_dict(),
            "max_turns": self.max_turns,
            "tools": {
                "timeout_ms": self.tools.timeout_ms,
                "confine_writes": self.tools.confine_writes,
                "block_internal_http": self.tools.block_internal_http,
                "max_observation_chars": self.tools.max_observation_chars,
            },
            "protected": {
                "paths": list(self.protected.paths),
                "allowed": list(self.protected.allowed),
            },
            "sandbox": {
                "require": self.sandbox.require,
                "limits": dict(self.sandbox.limits),
                "scratch_dir": self.sandbox.scratch_dir,
                "protected": list(self.sandbox.protected),
                "workspace_root": self.sandbox.workspace_root,
            },
            "expect_schema": None if self.expect_schema is None else dict(self.expect_schema),
        }

    @classmethod
    def from_dict(cls, value: object) -> RunSpec:
        """The spec of a wire object, or RunSpecError naming what is wrong."""
        if not isinstance(value, dict):
            raise RunSpecError("run spec is not a JSON object")
        version = value.get("version")
        if version != RUN_SPEC_VERSION:
            raise RunSpecError(
                f"run spec version {version!r} is not {RUN_SPEC_VERSION!r}; "
                "the worker and its parent must come from the same installation"
            )
        fields = _Fields(value, "")
        spec = cls(
            run_id=fields.text("run_id"),
            session_id=fields.text("session_id"),
            job_id=fields.optional(fields.text, "job_id"),
            goal=fields.text("goal"),
            mode=fields.text("mode"),
            cwd=fields.text("cwd"),
            api_key_env=fields.optional(fields.text, "api_key_env"),
            backend=fields.nested("backend", _backend),
            fallbacks=fields.items("fallbacks", _backend),
            budget=fields.nested("budget", _allowance),
            max_turns=fields.count("max_turns"),
            tools=fields.nested("tools", _tools),
            protected=fields.nested("protected", _protected),
            sandbox=fields.nested("sandbox", _sandbox),
            expect_schema=fields.optional(fields.mapping, "expect_schema"),
        )
        fields.done()
        return spec


def _backend_dict(backend: BackendSpec) -> dict[str, Any]:
    return {
        "name": backend.name,
        "token": backend.token,
        "base_url": backend.base_url,
        "model": backend.model,
        "api": backend.api,
        "timeout_ms": backend.timeout_ms,
        "extra_body": dict(backend.extra_body),
        "retries": backend.retries,
        "prices": {"input": backend.price_input, "output": backend.price_output},
    }


class _Fields:
    """Reads the fields of one wire object by type, remembering which were read."""

    def __init__(self, value: dict[str, Any], where: str) -> None:
        self.value = value
        self.where = where
        self.read: set[str] = {"version"} if not where else set()

    def _take(self, name: str) -> Any:
        if name not in self.value:
            raise RunSpecError(f"run spec field {self.where + name!r} is missing")
        self.read.add(name)
        return self.value[name]

    def _wrong(self, name: str, kind: str) -> RunSpecError:
        got = type(self.value[name]).__name__
        return RunSpecError(f"run spec field {self.where + name!r} must be {kind}, got {got}")

    def optional(self, read: Callable[[str], T], name: str) -> T | None:
        """A field that may be null; still required to be present."""
        return None if self._take(name) is None else read(name)

    def text(self, name: str) -> str:
        found = self._take(name)
        if not isinstance(found, str):
            raise self._wrong(name, "a string")
        return found

    def flag(self, name: str) -> bool:
        found = self._take(name)
        if not isinstance(found, bool):
            raise self._wrong(name, "true or false")
        return found

    def count(self, name: str, minimum: int = 1) -> int:
        found = self._take(name)
        if isinstance(found, bool) or not isinstance(found, int) or found < minimum:
            raise self._wrong(name, f"a whole number >= {minimum}")
        return found

    def number(self, name: str) -> float:
        found = self._take(name)
        if isinstance(found, bool) or not isinstance(found, int | float) or not found >= 0:
            raise self._wrong(name, "a number >= 0")
        return float(found)

    def mapping(self, name: str) -> dict[str, Any]:
        found = self._take(name)
        if not isinstance(found, dict):
            raise self._wrong(name, "an object")
        return found

    def texts(self, name: str) -> tuple[str, ...]:
        found = self._take(name)
        if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
            raise self._wrong(name, "a list of strings")
        return tuple(found)

    def nested(self, name: str, read: Callable[[_Fields], T]) -> T:
        inner = _Fields(self.mapping(name), f"{self.where}{name}.")
        parsed = read(inner)
        inner.done()
        return parsed

    def items(self, name: str, read: Callable[[_Fields], T]) -> tuple[T, ...]:
        found = self._take(name)
        if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
            raise self._wrong(name, "a list of objects")
        parsed = []
        for index, item in enumerate(found):
            inner = _Fields(item, f"{self.where}{name}[{index}].")
            parsed.append(read(inner))
            inner.done()
        return tuple(parsed)

    def done(self) -> None:
        """Refuse the fields nobody read: a spec this worker does not understand."""
        unknown = sorted(set(self.value) - self.read)
        if unknown:
            names = ", ".join(repr(f"{self.where}{name}") for name in unknown)
            raise RunSpecError(f"run spec has unknown field(s) {names}")


def _backend(fields: _Fields) -> BackendSpec:
    prices = fields.nested("prices", lambda p: (p.number("input"), p.number("output")))
    return BackendSpec(
        name=fields.text("name"),
        token=fields.optional(fields.text, "token"),
        base_url=fields.text("base_url"),
        model=fields.text("model"),
        api=fields.text("api"),
        timeout_ms=fields.count("timeout_ms"),
        extra_body=fields.mapping("extra_body"),
        retries=fields.count("retries", minimum=0),
        price_input=prices[0],
        price_output=prices[1],
    )


def _allowance(fields: _Fields) -> Allowance:
    return Allowance(
        max_tokens=fields.optional(lambda name: fields.count(name, minimum=0), "max_tokens"),
        max_cost=fields.optional(fields.number, "max_cost"),
    )


def _tools(fields: _Fields) -> ToolSettings:
    return ToolSettings(
        timeout_ms=fields.count("timeout_ms"),
        confine_writes=fields.flag("confine_writes"),
        block_internal_http=fields.flag("block_internal_http"),
        max_observation_chars=fields.count("max_observation_chars"),
    )


def _protected(fields: _Fields) -> ProtectedPaths:
    return ProtectedPaths(fields.texts("paths"), fields.texts("allowed"))


def _sandbox(fields: _Fields) -> SandboxSpec:
    limits = fields.nested("limits", _limits)
    return SandboxSpec(
        require=fields.flag("require"),
        limits=limits,
        scratch_dir=fields.text("scratch_dir"),
        protected=fields.texts("protected"),
        workspace_root=fields.text("workspace_root"),
    )


def _limits(fields: _Fields) -> dict[str, int | None]:
    # None is no limit; the parent sends every key, 0 already turned into None.
    return {key: fields.optional(fields.count, key) for key in LIMIT_KEYS}
