"""`scoot setup`: provision a runtime directory and write a commented config.toml."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scoot.errors import UsageError
from scoot.instance.config import BackendConfig, build_config
from scoot.instance.home import Home, ensure_tree, resolve_home
from scoot.instance.secrets import write_token_file
from scoot.records.files import atomic_write_bytes
from scoot.shared.value_class import value_class

POLICIES = ("readonly", "guarded", "unrestricted")


@value_class
class SetupAnswers:
    base_url: str
    model: str
    api: str
    token_source: str  # env | file | command | none
    api_key_env: str
    api_key_cmd: str
    token_value: str | None  # only for source "file", goes to the token file
    max_turns: int
    policy: str
    enable_schedule: bool


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except that TOML also bans DEL."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def render_config(answers: SetupAnswers) -> str:
    """The config.toml text; the token itself is never part of it."""
    token_lines = {
        "env": f"api_key_env = {toml_string(answers.api_key_env)}  # token read from this variable",
        "file": "# token read from the 0600 file <runtime dir>/token (api_key_file to change it)",
        "command": f"api_key_cmd = {toml_string(answers.api_key_cmd)}  # prints the token",
        "none": "# no token: the backend needs none (set api_key_env or api_key_cmd if it does)",
    }[answers.token_source]
    enabled = "true" if answers.enable_schedule else "false"
    return f"""# scoot configuration, written by `scoot setup`.
# Every key is optional; missing keys take their defaults. See docs/configuration.md.

[backend]
base_url = {toml_string(answers.base_url)}  # an OpenAI-compatible server
model = {toml_string(answers.model)}
api = {toml_string(answers.api)}  # "chat" (Chat Completions) or "responses"
timeout_ms = 120000
{token_lines}

[agent]
max_turns = {answers.max_turns}  # a run without a final answer after this many turns fails

[tools]
policy = {toml_string(answers.policy)}  # mode for `scoot -e`; scheduled jobs default to readonly
timeout_ms = 30000

[audit]
to_file = true  # logs/audit.jsonl

[schedule]
enabled = {enabled}  # scheduled jobs run only when this is true
poll_ms = 1000
max_concurrent = 4
job_timeout_sec = 600

# A scheduled job: exactly one of every_sec, at_unix or cron (5 fields, UTC).
# mode defaults to readonly; guarded is coerced to readonly; unrestricted must be explicit.
#
# [[schedule.jobs]]
# id = "disk-check"
# goal = "Inspect disk usage and summarize anomalies"
# every_sec = 300
# mode = "readonly"
"""


def _read_token_line() -> str:
    try:
        token = sys.stdin.readline().strip()
    except UnicodeDecodeError:
        raise UsageError("the token on stdin is not UTF-8 text; pass it as plain text") from None
    if not token:  # an unset variable in `printf '%s\n' "$TOKEN" | ...` must not pass unseen
        raise UsageError(
            "--token-stdin read no token: stdin was empty; pipe the token in, "
            "e.g. printf '%s\\n' \"$TOKEN\" | scoot setup --token-stdin"
        )
    return token


def _require_utf8(values: dict[str, str | None]) -> None:
    """Arguments decoded with surrogate escapes cannot be written to a UTF-8 file."""
    for flag, value in values.items():
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"{flag} is not valid UTF-8 text; retype it") from None


def _prompt_answers(options: dict[str, Any], interactive: bool) -> SetupAnswers:
    defaults = BackendConfig()
    if options.get("token_stdin"):
        if options.get("token_source") not in (None, "file"):
            raise UsageError(
                "--token-stdin stores the token in the 0600 token file; "
                "use it with --token-source file (or leave --token-source out)"
            )
        options = {**options, "token_source": "file"}

    def ask(key: str, text: str, default: Any, **kwargs: Any) -> Any:
        if options.get(key) is not None:
            return options[key]
        if not interactive:
            return default
        return click.prompt(text, default=default, **kwargs)

    base_url = ask("base_url", "Model backend base URL", defaults.base_url)
    model = ask("model", "Model name", defaults.model)
    api = ask("api", "Backend API", "chat", type=click.Choice(["chat", "responses"]))
    source = ask(
        "token_source",
        "Token source",
        "env",
        type=click.Choice(["env", "file", "command", "none"]),
    )
    api_key_env, api_key_cmd, token_value = _token_answers(options, str(source), interactive)
    max_turns = ask("max_turns", "Agent max turns", 32, type=click.IntRange(1, 10000))
    policy = ask("policy", "Policy for scoot -e", "guarded", type=click.Choice(POLICIES))
    enable = options.get("enable_schedule")
    if enable is None:
        enable = (
            click.confirm("Enable scheduled jobs now?", default=False) if interactive else False
        )
    _check_answers(max_turns, base_url, model, api_key_env, api_key_cmd, token_value)
    return SetupAnswers(
        str(base_url),
        str(model),
        str(api),
        str(source),
        str(api_key_env),
        str(api_key_cmd),
        token_value,
        int(max_turns),
        str(policy),
        bool(enable),
    )


def _token_answers(
    options: dict[str, Any], source: str, interactive: bool
) -> tuple[str, str, str | None]:
    """The token's environment variable, command and value (a file token), asked as needed."""
    api_key_env = options.get("api_key_env") or BackendConfig().api_key_env
    api_key_cmd = options.get("api_key_cmd") or ""
    token_value: str | None = None
    if source == "env" and interactive and options.get("api_key_env") is None:
        api_key_env = click.prompt("Environment variable holding the token", default=api_key_env)
    if source == "command" and not api_key_cmd:
        if not interactive:
            raise UsageError("--token-source command needs --api-key-cmd CMD")
        api_key_cmd = click.prompt("Command that prints the token")
    if source == "file":
        if options.get("token_stdin"):
            token_value = _read_token_line()
        elif interactive:
            token_value = click.prompt(
                "Paste the token (stored in a 0600 file, never in config)",
                hide_input=True,
                default="",
                show_default=False,
            ).strip()
        if source == "file" and not token_value and not interactive:
            token_value = None  # keep an existing token file, if any
    return api_key_env, api_key_cmd, token_value


def _check_answers(
    max_turns: Any,
    base_url: Any,
    model: Any,
    api_key_env: str,
    api_key_cmd: str,
    token_value: str | None,
) -> None:
    if not isinstance(max_turns, int) or max_turns < 1:
        raise UsageError(f"--max-turns must be >= 1, got {max_turns}")
    if not str(base_url).startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, got {base_url!r}")
    if not str(model).strip():
        raise UsageError("--model must not be empty")
    _require_utf8(
        {
            "--base-url": str(base_url),
            "--model": str(model),
            "--api-key-env": str(api_key_env),
            "--api-key-cmd": str(api_key_cmd),
            "the token": token_value,
        }
    )


def run_setup(home_option: str | None, options: dict[str, Any]) -> int:
    interactive = not options.get("non_interactive")
    if interactive and home_option is None:
        default_root = str(resolve_home(None).root)
        home_option = click.prompt("Runtime directory", default=default_root)
    home: Home = resolve_home(home_option)
    existing = home.config_toml if home.config_toml.exists() else None
    if existing is None and home.config_json.exists():
        existing = home.config_json
    if existing is not None and not options.get("force"):
        if not interactive:
            raise UsageError(
                f"{existing} already exists; pass --force to overwrite it, or edit it by hand"
            )
        if not click.confirm(f"{existing} exists. Overwrite it?", default=False):
            click.echo("scoot: setup left the existing config unchanged")
            return 1
    answers = _prompt_answers(options, interactive)
    text = render_config(answers)
    # Prove the file we are about to write loads cleanly before touching the disk.
    from scoot.instance.toml_parser import loads

    build_config(loads(text), "config.toml", {})
    for warning in ensure_tree(home):
        click.echo(f"scoot: warning: {warning}", err=True)
    if answers.token_value:
        write_token_file(home.token_file, answers.token_value)
    atomic_write_bytes(home.config_toml, text.encode("utf-8"))
    click.echo(f"scoot: wrote {home.config_toml}")
    if answers.token_source == "file":
        state = "stored" if answers.token_value else "expected"
        click.echo(f"scoot: token {state} in {home.token_file} (mode 0600)")
    click.echo(
        f"next: add jobs to {home.config_toml}, then `scoot --scoot-home {home.root} schedule list`"
    )
    return 0
