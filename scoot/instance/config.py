"""Configuration: config.toml, else config.json, else defaults, then SCOOT_* overrides.

The file is the source of truth for which jobs exist. Loading is pure apart
from reading the file: it returns the values plus the warnings to show, and
raises ConfigError (exit 2) only for a file that cannot be used at all.
Secrets are never read here; see `scoot.instance.secrets`.

The parts: the shape (scoot.instance.sections), the file (config_file), one
value's checks (config_values); this module puts them together.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from scoot.errors import ConfigError
from scoot.instance.config_file import MAX_CONFIG_BYTES, read_config_file, read_config_source
from scoot.instance.config_values import check_value, parse_env_value, shown_key
from scoot.instance.home import Home
from scoot.instance.sections import (
    CHOICES,
    MAX_WHOLE,
    MINIMUMS,
    RENAMED_KEYS,
    SECTION_CLASSES,
    TOLERATED_SECTIONS,
    AgentConfig,
    AuditConfig,
    BackendConfig,
    BudgetConfig,
    Config,
    EdgeConfig,
    MetricsConfig,
    SandboxConfig,
    ScheduleConfig,
    ToolsConfig,
    all_backends,
    effective_values,
    env_var_name,
    field_kind,
    overridable_fields,
)
from scoot.notify.settings import NotifySettings, parse_notify
from scoot.shared.value_class import value_class


@value_class
class LoadedConfig:
    """A configuration plus where it came from and what was wrong with it."""

    config: Config
    source: Path | None  # None: defaults only
    warnings: tuple[str, ...]
    env_overrides: tuple[str, ...]  # names of SCOOT_* variables applied


def build_config(
    data: dict[str, Any], source_label: str, environ: dict[str, str]
) -> tuple[Config, list[str], list[str]]:
    """Pure: raw parsed data + environment -> (config, warnings, applied env names).

    A wrong type in the file is a ConfigError; unknown keys and bad SCOOT_*
    values are warnings.
    """
    warnings: list[str] = []
    errors: list[str] = []
    values, named, notify = _file_values(data, source_label, warnings, errors)
    if errors:
        raise ConfigError(errors[0] + "; fix that key in the config file")
    applied = _apply_environment(environ, values, warnings)
    config = Config(
        **{s: SECTION_CLASSES[s](**v) for s, v in values.items()}, backends=named, notify=notify
    )
    from scoot.shared.spend.backends import reference_problems

    problems = reference_problems(all_backends(config))
    if problems:
        raise ConfigError(f"{source_label}: {problems[0]}; fix that key in the config file")
    return config, warnings, applied


SectionValues = dict[str, dict[str, Any]]


def _file_values(
    data: dict[str, Any], label: str, warnings: list[str], errors: list[str]
) -> tuple[SectionValues, dict[str, BackendConfig], NotifySettings]:
    """The file's values by section, its named backends and [notify]; problems appended."""
    values: SectionValues = {s: {} for s in SECTION_CLASSES}
    named: dict[str, BackendConfig] = {}
    notify = NotifySettings()
    for section, body in data.items():
        if section == "backends":
            named = _named_backends(body, label, errors)
        elif section == "notify":
            notify, found, error = parse_notify(body, label)
            warnings.extend(found)
            if error:
                errors.append(error)
        elif section not in SECTION_CLASSES:
            if section not in TOLERATED_SECTIONS:
                warnings.append(f"{label}: unknown section [{shown_key(section)}] ignored")
        elif not isinstance(body, dict):
            errors.append(f"{label}: [{section}] must be a table, got {body!r}")
        else:
            _section_values(section, body, label, values[section], warnings, errors)
    return values, named, notify


def _section_values(
    section: str,
    body: dict[str, Any],
    label: str,
    into: dict[str, Any],
    warnings: list[str],
    errors: list[str],
) -> None:
    known = {f.name for f in dataclasses.fields(SECTION_CLASSES[section])}
    for written, value in body.items():
        name = _current_key(section, written, body, label, warnings)
        if name is None:
            continue
        if name not in known:
            warnings.append(
                f"{label}: unknown key [{section}] {shown_key(name)} ignored "
                f"(known: {', '.join(sorted(known))})"
            )
            continue
        checked, error = check_value(section, name, value, label)
        if error:
            errors.append(error)
        else:
            into[name] = checked


def _apply_environment(
    environ: dict[str, str], values: SectionValues, warnings: list[str]
) -> list[str]:
    """Set the SCOOT_* overrides into `values`; returns the variables applied."""
    applied: list[str] = []
    for section, name in overridable_fields():
        var = env_var_name(section, name)
        text = environ.get(var)
        if not text:
            var, text = _renamed_env_value(section, name, environ, warnings, var)
        if text is None or text == "":
            continue
        try:
            parsed = parse_env_value(section, name, text)
        except ValueError as exc:
            warnings.append(f"{var}={text!r} ignored: [{section}] {name} expects {exc}")
            continue
        checked, error = check_value(section, name, parsed, var)
        if error:
            warnings.append(f"{error} (variable ignored)")
            continue
        values[section][name] = checked
        applied.append(var)
    return applied


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
        shown = f"[backends.{shown_key(name)}]"
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
                    f"{label}: unknown key {shown} {shown_key(key)} "
                    f"(known: {', '.join(sorted(known))})"
                )
                continue
            checked, error = check_value("backend", key, value, label)
            if error:
                errors.append(error.replace("[backend]", shown, 1))
            else:
                fields[key] = checked
        named[name] = BackendConfig(**fields)
    return named


def load_config(
    home: Home, environ: dict[str, str] | None = None, *, keep_parse: bool = False
) -> LoadedConfig:
    """Read and resolve the configuration of a runtime directory.

    `keep_parse`: cache the parsed file in the state directory for the next start
    (scoot.instance.config_cache), only where that directory exists and is ours.
    """
    env = dict(os.environ if environ is None else environ)
    source = read_config_source(home)
    label = str(source.path) if source.path else "defaults"
    config, warnings, applied = build_config(source.data, label, env)
    if keep_parse:
        source.keep(home)  # only a usable config is worth its parsed copy
    return LoadedConfig(config, source.path, tuple(warnings), tuple(applied))


__all__ = [
    "CHOICES",
    "MAX_CONFIG_BYTES",
    "MAX_WHOLE",
    "MINIMUMS",
    "RENAMED_KEYS",
    "SECTION_CLASSES",
    "TOLERATED_SECTIONS",
    "AgentConfig",
    "AuditConfig",
    "BackendConfig",
    "BudgetConfig",
    "Config",
    "EdgeConfig",
    "LoadedConfig",
    "MetricsConfig",
    "SandboxConfig",
    "ScheduleConfig",
    "ToolsConfig",
    "all_backends",
    "build_config",
    "effective_values",
    "env_var_name",
    "field_kind",
    "load_config",
    "overridable_fields",
    "read_config_file",
]
