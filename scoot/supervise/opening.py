"""What every run entry point opens first: the owner check, the token, the one records writer."""

from __future__ import annotations

import os
from collections.abc import Callable

from scoot.errors import ScootError
from scoot.instance.home import Home
from scoot.instance.open import Instance
from scoot.instance.secrets import Token, resolve_token
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.retention import gaps_path_for


def trusted_owner(owner_uid: int, euid: int) -> bool:
    """Whose runtime directory may decide what runs as `euid`: its own, or root's."""
    return owner_uid in (euid, 0)


def refuse_foreign_home(home: Home) -> None:
    """Refuse to run jobs from a runtime directory that another user owns.

    Its config decides what runs, and with which powers: running it would
    let that user act as us (as root, if we are root). Read-only commands
    only warn about it.
    """
    try:
        owner = home.root.stat().st_uid
    except OSError:
        return  # not there yet; creating it reports what is wrong
    euid = os.geteuid()
    if not trusted_owner(owner, euid):
        raise ScootError(
            f"refusing to run jobs from {home.root}: it belongs to uid {owner}, whose config "
            f"would run as uid {euid}; run scoot as uid {owner}, or `chown -R {euid} "
            f"{home.root}` if you trust what it holds"
        )


def make_recorder(instance: Instance, token: str | None, warn: Callable[[str], None]) -> Recorder:
    config = instance.config
    redactor = Redactor([token])
    audit_path = instance.home.audit_log if config.audit.to_file else None
    max_bytes = config.audit.max_file_mb * 1024 * 1024
    keep = config.audit.max_retained_generations
    audit = AuditLog(
        audit_path,
        redactor,
        level=config.audit.level,
        on_error=warn,
        max_bytes=max_bytes,
        keep=keep,
    )
    sessions = SessionLog(
        instance.home.sessions,
        redactor,
        max_bytes=max_bytes,
        keep=keep,
        gaps=gaps_path_for(instance.home.audit_log),
    )
    return Recorder(instance.home, audit, sessions, warn=warn)


def open_records(instance: Instance, warn: Callable[[str], None]) -> tuple[Token, Recorder]:
    """The token (its problems warned) and the single writer of this process's records."""
    token = resolve_token(instance.home, instance.config.backend)
    for text in token.warnings:
        warn(text)
    if token.source.startswith("env"):
        # Held in memory from here on; the environment block would outlive the need.
        from scoot.shared.hardening import scrub_environ

        scrub_environ(instance.config.backend.api_key_env)
    return token, make_recorder(instance, token.value, warn)
