"""Reading the config file: config.toml, else config.json, as one parsed table.

A file that cannot be used at all is a ConfigError naming the place (line and
column where the parser knows them) and how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoot.errors import ConfigError
from scoot.instance.config_cache import load_cached, store_cached
from scoot.instance.home import Home
from scoot.records.files import UnreadableFile, read_regular_file
from scoot.shared.value_class import value_class

if TYPE_CHECKING:
    from scoot.instance.toml_parser import TOMLDecodeError

# A config past this is a mistake (a log, a link to a device), not a config.
MAX_CONFIG_BYTES = 1024 * 1024


def _end_position(raw: str) -> tuple[int, int]:
    """Line and column (1-based) just after the last character, as an editor counts them."""
    body = raw[:-1] if raw.endswith("\n") else raw  # a final newline opens no line of its own
    last_line = body.rsplit("\n", 1)[-1]
    return body.count("\n") + 1, len(last_line) + 1


def _toml_position(exc: TOMLDecodeError, raw: str) -> tuple[int, int, str]:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    if match:
        return int(match.group(1)), int(match.group(2)), text[: match.start()].strip()
    match = re.search(r"\(at end of document\)", text)
    line, col = _end_position(raw)
    return line, col, text[: match.start()].strip() if match else text


def _read_bytes(path: Path) -> bytes:
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES)
    except UnreadableFile as exc:
        raise ConfigError(f"{exc}; the config must be a regular file you can read") from None


def _decoded(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from None


def _unparseable(path: Path, exc: BaseException, syntax: str) -> ConfigError:
    """A parser's failure without a position: nesting too deep, a number too long."""
    if isinstance(exc, RecursionError):
        what = "arrays or tables nested too deeply"
    else:
        what = str(exc).split(";")[0].strip() or type(exc).__name__
    return ConfigError(f"{path}: {what}; fix the {syntax} there")


@value_class
class ConfigSource:
    """The parsed config file, where it came from and, for TOML, the bytes it was parsed from."""

    data: dict[str, Any]
    path: Path | None
    raw: bytes | None = None  # None: nothing to cache (JSON, defaults, or read from the cache)

    def keep(self, home: Home) -> None:
        """Cache the parse for the next start; call it once the config proved usable."""
        if self.raw is not None:
            store_cached(home.state, self.raw, self.data)


def read_config_file(home: Home) -> tuple[dict[str, Any], Path | None]:
    """Parse config.toml, else config.json; ({}, None) when neither exists."""
    source = read_config_source(home)
    return source.data, source.path


def read_config_source(home: Home) -> ConfigSource:
    """config.toml, else config.json, else defaults; TOML from its parsed copy when unchanged."""
    if home.config_toml.exists():
        return _read_toml(home.config_toml, home.state)
    if home.config_json.exists():
        return ConfigSource(_read_json(home.config_json), home.config_json)
    return ConfigSource({}, None)


def _read_toml(path: Path, state_dir: Path) -> ConfigSource:
    raw = _read_bytes(path)
    cached = load_cached(state_dir, raw)
    if cached is not None:
        return ConfigSource(cached, path)
    text = _decoded(path, raw)
    # Only when the parsed copy cannot stand in for the file.
    from scoot.instance import toml_parser

    try:
        data = toml_parser.loads(text)
    except toml_parser.TOMLDecodeError as exc:
        line, col, what = _toml_position(exc, text)
        raise ConfigError(f"{path}:{line}:{col}: {what}; fix the TOML syntax there") from None
    except (RecursionError, ValueError) as exc:
        raise _unparseable(path, exc, "TOML") from None
    return ConfigSource(data, path, raw)


def _read_json(path: Path) -> dict[str, Any]:
    import json  # here: config.json is rare, and json is on no other path of a listing

    text = _decoded(path, _read_bytes(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}; fix the JSON syntax there"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise _unparseable(path, exc, "JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1:1: the top level must be an object")
    return data
