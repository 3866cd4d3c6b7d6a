"""The configuration's shape: its sections, their fields, defaults and bounds.

Data only, plus the small functions that read it: which type a field holds,
the SCOOT_* name of a field, every backend by name, every value in order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from scoot.notify.settings import NotifySettings
from scoot.shared.value_class import value_class


@value_class
class BackendConfig:
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "qwen2.5"
    timeout_ms: int = 120000
    api_key_env: str = "OPENAI_API_KEY"
    api_key_file: str = ""  # empty: <home>/token
    api_key_cmd: str = ""
    api_key_cmd_timeout_ms: int = 5000
    extra_body: dict[str, Any] = field(default_factory=dict)
    api: str = "chat"
    retries: int = 2
    # Spend and availability (scoot.shared.spend): 0 is no cap; "" is no fallback.
    max_concurrent: int = 0
    fallback: str = ""
    price_per_mtok_input: float = 0.0
    price_per_mtok_output: float = 0.0


@value_class
class BudgetConfig:
    """Day budgets of all jobs together, over a rolling 24 hours; 0 is no limit."""

    max_tokens_per_day: int = 0
    max_cost_per_day: float = 0.0


@value_class
class AgentConfig:
    max_turns: int = 32
    # Wall-clock limit of a `scoot -e` run in seconds; 0: none (`--timeout` overrides).
    exec_timeout_sec: int = 0


@value_class
class ToolsConfig:
    policy: str = "guarded"
    timeout_ms: int = 30000
    confine_writes: bool = True
    block_internal_http: bool = True
    max_observation_chars: int = 8000


@value_class
class AuditConfig:
    level: str = "info"
    to_file: bool = True
    max_file_mb: int = 64
    max_retained_generations: int = 5


@value_class
class ScheduleConfig:
    enabled: bool = False
    poll_ms: int = 1000
    max_concurrent: int = 4
    job_timeout_sec: int = 600
    shutdown_grace_sec: int = 10
    kill_grace_sec: int = 5
    timezone: str = "UTC"  # the zone of cron jobs that name none
    jitter_sec: int = 0  # the jitter of jobs that set none
    jobs: tuple[dict[str, Any], ...] = ()


@value_class
class SandboxConfig:
    require: bool = False
    cpu_sec: int = 600
    address_space_mb: int = 2048
    nofile: int = 256
    nproc: int = 0  # 0: unset (RLIMIT_NPROC counts every process of the user)
    fsize_mb: int = 256


@value_class
class EdgeConfig:
    # The loosest mode `scoot -e --unattended` may use (it does not bound jobs).
    unattended_exec_max_policy: str = "readonly"


@value_class
class MetricsConfig:
    listen: str = ""  # host:port for GET /metrics; empty: not served
    textfile: str = ""  # a .prom file rewritten for node_exporter; empty: not written


@value_class
class Config:
    backend: BackendConfig = field(default_factory=BackendConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    # [backends.NAME] tables: the same keys as [backend] (which is "default").
    backends: dict[str, BackendConfig] = field(default_factory=dict)
    # [notify] and its [notify.<name>] targets (scoot.notify.settings); file only.
    notify: NotifySettings = field(default_factory=NotifySettings)


SECTION_CLASSES: dict[str, Any] = {
    "backend": BackendConfig,
    "agent": AgentConfig,
    "tools": ToolsConfig,
    "audit": AuditConfig,
    "schedule": ScheduleConfig,
    "sandbox": SandboxConfig,
    "edge": EdgeConfig,
    "metrics": MetricsConfig,
    "budget": BudgetConfig,
}

# Fields whose value must be one of a few words.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("backend", "api"): ("chat", "responses"),
    ("tools", "policy"): ("readonly", "guarded", "unrestricted"),
    ("edge", "unattended_exec_max_policy"): ("readonly", "guarded", "unrestricted"),
    ("audit", "level"): ("debug", "info", "warn", "error"),
}

# Every integer field is at most this (about 68 years in seconds), so any value
# fits a timer, a sleep or an rlimit.
MAX_WHOLE = 2**31 - 1

# Integer fields and their smallest sensible value.
MINIMUMS: dict[tuple[str, str], int] = {
    ("backend", "timeout_ms"): 1,
    ("backend", "api_key_cmd_timeout_ms"): 1,
    ("backend", "retries"): 0,
    ("backend", "max_concurrent"): 0,
    ("budget", "max_tokens_per_day"): 0,
    ("agent", "max_turns"): 1,
    ("agent", "exec_timeout_sec"): 0,
    ("tools", "timeout_ms"): 1,
    ("tools", "max_observation_chars"): 200,
    ("audit", "max_file_mb"): 1,
    ("audit", "max_retained_generations"): 1,
    ("schedule", "poll_ms"): 10,
    ("schedule", "max_concurrent"): 1,
    ("schedule", "job_timeout_sec"): 1,
    ("schedule", "shutdown_grace_sec"): 0,
    ("schedule", "kill_grace_sec"): 0,
    ("schedule", "jitter_sec"): 0,
    ("sandbox", "cpu_sec"): 0,
    ("sandbox", "address_space_mb"): 0,
    ("sandbox", "nofile"): 0,
    ("sandbox", "nproc"): 0,
    ("sandbox", "fsize_mb"): 0,
}

# Old key names still read, each as its new name (in the file and as SCOOT_*), with a warning.
RENAMED_KEYS: dict[tuple[str, str], str] = {
    ("edge", "max_job_policy"): "unattended_exec_max_policy",
}

# Keys of older Scoot config files that this scheduler reads but does not use.
TOLERATED_SECTIONS = frozenset({"skills", "memory", "mcp", "ui"})


def field_kind(section: str, name: str) -> type:
    """The Python type a field holds (int, bool, str, dict, tuple)."""
    cls = SECTION_CLASSES[section]
    hint = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    text = hint if isinstance(hint, str) else getattr(hint, "__name__", str(hint))
    for candidate in ("dict", "tuple", "bool", "int", "float", "str"):
        if text.startswith(candidate):
            return {"dict": dict, "tuple": tuple, "bool": bool, "int": int, "float": float}.get(
                candidate, str
            )
    return str


def env_var_name(section: str, name: str) -> str:
    return f"SCOOT_{section.upper()}_{name.upper()}"


def overridable_fields() -> list[tuple[str, str]]:
    """Every field a SCOOT_* variable may set (jobs are config-file only)."""
    return [
        (section, f.name)
        for section, cls in SECTION_CLASSES.items()
        for f in dataclasses.fields(cls)
        if not (section == "schedule" and f.name == "jobs")
    ]


def all_backends(config: Config) -> dict[str, BackendConfig]:
    """Every backend by name; [backend] is "default"."""
    return {"default": config.backend, **config.backends}


def effective_values(config: Config) -> list[tuple[str, str, Any]]:
    """(section, key, value) for every field, jobs excluded, in schema order."""
    rows: list[tuple[str, str, Any]] = []
    for section in SECTION_CLASSES:
        body = getattr(config, section)
        for f in dataclasses.fields(body):
            if section == "schedule" and f.name == "jobs":
                continue
            rows.append((section, f.name, getattr(body, f.name)))
    return rows
