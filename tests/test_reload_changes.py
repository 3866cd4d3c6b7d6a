"""Which changed config keys a reload applies at once and which wait for a restart."""

from __future__ import annotations

import dataclasses

from scoot.instance.config import BackendConfig, Config
from scoot.supervise.reload import classify, live_schedule


def test_schedule_timing_applies_and_audit_metrics_token_wait_for_a_restart() -> None:
    old = Config()
    new = dataclasses.replace(
        old,
        schedule=dataclasses.replace(old.schedule, poll_ms=250, enabled=not old.schedule.enabled),
        audit=dataclasses.replace(old.audit, level="warn"),
        metrics=dataclasses.replace(old.metrics, listen="127.0.0.1:9464"),
        backend=dataclasses.replace(old.backend, api_key_env="OTHER_KEY", model="other"),
        backends={"spare": BackendConfig()},
    )
    changes = classify(old, new)
    assert changes.applied == ("backend.model", "schedule.poll_ms", "backends.spare")
    assert changes.restart_needed == (
        "backend.api_key_env",
        "audit.level",
        "schedule.enabled",
        "metrics.listen",
    )
    assert live_schedule(new)["poll_ms"] == 250


def test_an_unchanged_config_reports_nothing_and_jobs_are_not_a_setting() -> None:
    old = Config()
    new = dataclasses.replace(old, schedule=dataclasses.replace(old.schedule, jobs=({"id": "a"},)))
    changes = classify(old, new)
    assert changes.applied == () and changes.restart_needed == ()
