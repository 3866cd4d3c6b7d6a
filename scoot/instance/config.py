"""Configuration: config.toml, else config.json, else defaults, then SCOOT_* overrides.

The file is the source of truth for which jobs exist. Loading is pure apart
from reading the file: it returns the values plus the warnings to show, and
raises ConfigError (exit 2) only for a file that cannot be used at all.
Secrets are never read here; see `scoot.instance.secrets`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoot.errors import ConfigError
from scoot.instance.home import Home
from scoot.notify.settings import NotifySettings, parse_notify
from scoot.records.files import UnreadableFile, read_regular_file


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class BudgetConfig:
    """Day budgets of all jobs together, over a rolling 24 hours; 0 is no limit."""

    max_tokens_per_day: int = 0
    max_cost_per_day: float = 0.0


@dataclass(frozen=True)
class AgentConfig:
    max_turns: int = 32
    # Wall-clock limit of a `scoot -e` run in seconds; 0: none (`--timeout` overrides).
    exec_timeout_sec: int = 0


@dataclass(frozen=True)
class ToolsConfig:
    policy: str = "guarded"
    timeout_ms: int = 30000
    confine_writes: bool = True
    block_internal_http: bool = True
    max_observation_chars: int = 8000


@dataclass(frozen=True)
class AuditConfig:
    level: str = "info"
    to_file: bool = True
    max_file_mb: int = 64
    max_retained_generations: int = 5


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class SandboxConfig:
    require: bool = False
    cpu_sec: int = 600
    address_space_mb: int = 2048
    nofile: int = 256
    nproc: int = 0  # 0: unset (RLIMIT_NPROC counts every process of the user)
    fsize_mb: int = 256


@dataclass(frozen=True)
class EdgeConfig:
    # The loosest mode `scoot -e --unattended` may use (it does not bound jobs).
    unattended_exec_max_policy: str = "readonly"


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = ""  # host:port for GET /metrics; empty: not served
    textfile: str = ""  # a .prom file rewritten for node_exporter; empty: not written


@dataclass(frozen=True)
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
# A config past this is a mistake (a log, a link to a device), not a config.
MAX_CONFIG_BYTES = 1024 * 1024

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


@dataclass(frozen=True)
class LoadedConfig:
    """A configuration plus where it came from and what was wrong with it."""

    config: Config
    source: Path | None  # None: defaults only
    warnings: tuple[str, ...]
    env_overrides: tuple[str, ...]  # names of SCOOT_* variables applied


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


def _end_position(raw: str) -> tuple[int, int]:
    """Line and column (1-based) just after the last character, as an editor counts them."""
    body = raw[:-1] if raw.endswith("\n") else raw  # a final newline opens no line of its own
    last_line = body.rsplit("\n", 1)[-1]
    return body.count("\n") + 1, len(last_line) + 1


def _toml_position(exc: tomllib.TOMLDecodeError, raw: str) -> tuple[int, int, str]:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    if match:
        return int(match.group(1)), int(match.group(2)), text[: match.start()].strip()
    match = re.search(r"\(at end of document\)", text)
    line, col = _end_position(raw)
    return line, col, text[: match.start()].strip() if match else text


def _read_text(path: Path) -> str:
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from None
    except UnreadableFile as exc:
        raise ConfigError(f"{exc}; the config must be a regular file you can read") from None


def _unparseable(path: Path, exc: BaseException, syntax: str) -> ConfigError:
    """A parser's failure without a position: nesting too deep, a number too long."""
    if isinstance(exc, RecursionError):
        what = "arrays or tables nested too deeply"
    else:
        what = str(exc).split(";")[0].strip() or type(exc).__name__
    return ConfigError(f"{path}: {what}; fix the {syntax} there")


def read_config_file(home: Home) -> tuple[dict[str, Any], Path | None]:
    """Parse config.toml, else config.json; ({}, None) when neither exists."""
    if home.config_toml.exists():
        path = home.config_toml
        raw = _read_text(path)
        try:
            return tomllib.loads(raw), path
        except tomllib.TOMLDecodeError as exc:
            line, col, what = _toml_position(exc, raw)
            raise ConfigError(f"{path}:{line}:{col}: {what}; fix the TOML syntax there") from None
        except (RecursionError, ValueError) as exc:
            raise _unparseable(path, exc, "TOML") from None
    if home.config_json.exists():
        path = home.config_json
        raw = _read_text(path)
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}; fix the JSON syntax there"
            ) from None
        except (RecursionError, ValueError) as exc:
            raise _unparseable(path, exc, "JSON") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1:1: the top level must be an object")
        return data, path
    return {}, None


def _check_value(section: str, name: str, value: Any, where: str) -> tuple[Any, str | None]:
    """Return (value to use, None) or (None, error text) for one field."""
    kind = field_kind(section, name)
    key = f"[{section}] {name}"
    if kind is bool:
        if not isinstance(value, bool):
            return None, f"{where}: {key} must be true or false, got {value!r}"
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"{where}: {key} must be an integer, got {value!r}"
        low = MINIMUMS.get((section, name))
        if low is not None and value < low:
            return None, f"{where}: {key} must be >= {low}, got {value}"
        if value > MAX_WHOLE:
            return None, f"{where}: {key} must be <= {MAX_WHOLE}, got {value}"
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"{where}: {key} must be a number, got {value!r}"
        if not math.isfinite(value) or value < 0:
            return None, f"{where}: {key} must be a finite number >= 0, got {value!r}"
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            return None, f"{where}: {key} must be a string, got {value!r}"
        choices = CHOICES.get((section, name))
        if choices and value not in choices:
            return None, f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}"
    elif kind is dict:
        if not isinstance(value, dict):
            return None, f"{where}: {key} must be a table, got {value!r}"
        problem = _json_problem(value, name)
        if problem:
            return None, f"{where}: {key} must hold only JSON values: {problem}"
    elif kind is tuple:
        if not isinstance(value, list):
            return None, f"{where}: {key} must be an array of tables, got {value!r}"
        value = tuple(value)
    return value, None


def _json_problem(value: Any, path: str) -> str | None:
    """Why `value` cannot travel as JSON (to the worker, then the model server), or None."""
    if isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        # orjson, which carries the run spec, stops at 64 bits.
        return None if -(2**63) <= value < 2**64 else f"{path} = {value} is too large"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} = {value} is not a finite number"
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for item_key, item in value.items():
            problem = _json_problem(item, f"{path}.{item_key}")
            if problem:
                return problem
        return None
    return f"{path} is a {type(value).__name__}; use a string, number, boolean, array or table"


def _parse_env_value(section: str, name: str, text: str) -> Any:
    """Turn a SCOOT_* string into the field's type; raises ValueError when it cannot."""
    kind = field_kind(section, name)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("true or false")
    if kind is int:
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise ValueError("a whole number (an integer)") from None
    if kind is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("a number") from None
    if kind is dict:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError("a JSON object")
        return value
    return text


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


def _shown_key(name: str) -> str:
    """A key as the user wrote it, quoted when it would not print as one plain line."""
    return name if name and name.isprintable() and name.strip() == name else repr(name)


def build_config(
    data: dict[str, Any], source_label: str, environ: dict[str, str]
) -> tuple[Config, list[str], list[str]]:
    """Pure: raw parsed data + environment -> (config, warnings, applied env names).

    A wrong type in the file is a ConfigError; unknown keys and bad SCOOT_*
    values are warnings.
    """
    warnings: list[str] = []
    values: dict[str, dict[str, Any]] = {s: {} for s in SECTION_CLASSES}
    errors: list[str] = []
    named: dict[str, BackendConfig] = {}
    notify = NotifySettings()
    for section, body in data.items():
        if section == "backends":
            named = _named_backends(body, source_label, errors)
            continue
        if section == "notify":
            notify, found, error = parse_notify(body, source_label)
            warnings.extend(found)
            if error:
                errors.append(error)
            continue
        if section not in SECTION_CLASSES:
            if section not in TOLERATED_SECTIONS:
                warnings.append(f"{source_label}: unknown section [{_shown_key(section)}] ignored")
            continue
        if not isinstance(body, dict):
            errors.append(f"{source_label}: [{section}] must be a table, got {body!r}")
            continue
        known = {f.name for f in dataclasses.fields(SECTION_CLASSES[section])}
        for written, value in body.items():
            name = _current_key(section, written, body, source_label, warnings)
            if name is None:
                continue
            if name not in known:
                warnings.append(
                    f"{source_label}: unknown key [{section}] {_shown_key(name)} ignored "
                    f"(known: {', '.join(sorted(known))})"
                )
                continue
            checked, error = _check_value(section, name, value, source_label)
            if error:
                errors.append(error)
            else:
                values[section][name] = checked
    if errors:
        raise ConfigError(errors[0] + "; fix that key in the config file")
    applied: list[str] = []
    for section, name in overridable_fields():
        var = env_var_name(section, name)
        text = environ.get(var)
        if not text:
            var, text = _renamed_env_value(section, name, environ, warnings, var)
        if text is None or text == "":
            continue
        try:
            parsed = _parse_env_value(section, name, text)
        except ValueError as exc:
            warnings.append(f"{var}={text!r} ignored: [{section}] {name} expects {exc}")
            continue
        checked, error = _check_value(section, name, parsed, var)
        if error:
            warnings.append(f"{error} (variable ignored)")
            continue
        values[section][name] = checked
        applied.append(var)
    config = Config(
        **{s: SECTION_CLASSES[s](**v) for s, v in values.items()}, backends=named, notify=notify
    )
    from scoot.shared.spend.backends import reference_problems

    problems = reference_problems(all_backends(config))
    if problems:
        raise ConfigError(f"{source_label}: {problems[0]}; fix that key in the config file")
    return config, warnings, applied


def _current_key(
    section: str, written: str, body: dict[str, Any], label: str, warnings: list[str]
) -> str | None:
    """The key `written` stands for; None when it is an old name the file also sets anew."""
    renamed = RENAMED_KEYS.get((section, written))
    if renamed is None:
        return written
    warnings.append(
        f"{label}: [{section}] {written} is deprecated; rename it to [{section}] {renamed}"
        + (" (its value is ignored: the new key is set too)" if renamed in body else "")
    )
    return None if renamed in body else renamed


def _renamed_env_value(
    section: str, name: str, environ: dict[str, str], warnings: list[str], var: str
) -> tuple[str, str | None]:
    """(variable, value) from the old SCOOT_* name of a renamed key (warned); else (var, None)."""
    for (old_section, old_name), new_name in RENAMED_KEYS.items():
        if (old_section, new_name) != (section, name):
            continue
        old_var = env_var_name(old_section, old_name)
        text = environ.get(old_var)
        if text:
            warnings.append(f"{old_var} is deprecated; rename it to {env_var_name(section, name)}")
            return old_var, text
    return var, None


BACKEND_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _named_backends(body: Any, label: str, errors: list[str]) -> dict[str, BackendConfig]:
    """[backends.NAME] tables, each checked like [backend] (errors appended)."""
    if not isinstance(body, dict):
        errors.append(f"{label}: [backends] must hold tables like [backends.local], got {body!r}")
        return {}
    known = {f.name for f in dataclasses.fields(BackendConfig)}
    named: dict[str, BackendConfig] = {}
    for name, table in body.items():
        shown = f"[backends.{_shown_key(name)}]"
        if not BACKEND_NAME.fullmatch(name) or name == "default":
            errors.append(
                f"{label}: {shown}: a backend name is 1 to 64 of A-Z a-z 0-9 . _ - "
                "and not 'default' (that is [backend])"
            )
            continue
        if not isinstance(table, dict):
            errors.append(f"{label}: {shown} must be a table, got {table!r}")
            continue
        fields: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                errors.append(
                    f"{label}: unknown key {shown} {_shown_key(key)} "
                    f"(known: {', '.join(sorted(known))})"
                )
                continue
            checked, error = _check_value("backend", key, value, label)
            if error:
                errors.append(error.replace("[backend]", shown, 1))
            else:
                fields[key] = checked
        named[name] = BackendConfig(**fields)
    return named


def all_backends(config: Config) -> dict[str, BackendConfig]:
    """Every backend by name; [backend] is "default"."""
    return {"default": config.backend, **config.backends}


def load_config(home: Home, environ: dict[str, str] | None = None) -> LoadedConfig:
    """Read and resolve the configuration of a runtime directory."""
    env = dict(os.environ if environ is None else environ)
    data, path = read_config_file(home)
    label = str(path) if path else "defaults"
    config, warnings, applied = build_config(data, label, env)
    return LoadedConfig(config, path, tuple(warnings), tuple(applied))


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
