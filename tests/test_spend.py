"""Spend decisions (scoot.shared.spend): usage shapes, budgets, backend chains, retry plans, config."""

from __future__ import annotations

import pytest

from scoot.errors import ConfigError
from scoot.instance.config import all_backends, build_config
from scoot.schedule.jobs import validate_jobs
from scoot.schedule.retry import backoff_sec, plan_retry
from scoot.shared.frames import FrameError, UsageFrame, decode_frame
from scoot.shared.spend.backends import chain, free_slot, is_unavailable, reference_problems
from scoot.shared.spend.budget import (
    DAY_SEC,
    Limits,
    SpendWindow,
    allowance_for,
    cost_of,
    spent_reason,
    stop_reason,
    window_from_runs,
)
from scoot.shared.spend.usage import Usage, usage_of

NOW = 1_700_000_000.0


# -- usage ------------------------------------------------------------------------


def test_chat_completions_usage_is_read() -> None:
    payload = {"usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}
    assert usage_of(payload, "chat") == Usage(120, 30, reported=True)


def test_responses_usage_is_read() -> None:
    payload = {"usage": {"input_tokens": 7, "output_tokens": 11}}
    assert usage_of(payload, "responses") == Usage(7, 11, reported=True)


def test_either_shape_is_accepted_whatever_the_api() -> None:
    assert usage_of({"usage": {"input_tokens": 3, "output_tokens": 4}}, "chat") == Usage(3, 4)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"usage": None},
        {"usage": "lots"},
        {"usage": {"prompt_tokens": "9", "completion_tokens": -1}},
        {"usage": {"prompt_tokens": True}},
        [],
    ],
)
def test_no_or_malformed_usage_counts_zero_not_reported(payload: object) -> None:
    counted = usage_of(payload, "chat")
    assert (counted.input, counted.output, counted.reported) == (0, 0, False)


def test_sums_keep_not_reported() -> None:
    total = Usage(5, 5) + Usage(0, 0, reported=False)
    assert (total.total, total.reported) == (10, False)


# -- budgets ----------------------------------------------------------------------


def test_window_rolls_over_24_hours() -> None:
    window = SpendWindow()
    window.add(NOW - DAY_SEC - 1, "a", 1000, 0.5)
    window.add(NOW - 10, "a", 30, 0.25)
    window.add(NOW - 5, "b", 70, 0.0)
    assert window.job_tokens("a", NOW) == 30
    assert window.total_tokens(NOW) == 100
    assert window.total_cost(NOW) == pytest.approx(0.25)


def test_window_sums_follow_entries_in_and_out_of_order() -> None:
    window = SpendWindow()
    window.add(NOW - 100, "a", 10, 0.0)
    window.add(NOW - 200, "b", 20, 0.5)  # earlier than the last one: a clock step
    window.add(NOW - 50, "a", 0, 0.0)  # nothing spent: not kept
    assert (window.total_tokens(NOW), window.job_tokens("b", NOW)) == (30, 20)
    later = NOW + DAY_SEC - 150  # b's entry has left the window, a's has not
    assert (window.total_tokens(later), window.job_tokens("b", later)) == (10, 0)
    assert window.total_cost(later) == 0.0
    assert window.total_tokens(NOW + 2 * DAY_SEC) == 0


def test_window_from_runs_reads_tokens_and_cost() -> None:
    rows = [
        {"job_id": "a", "ended_at": NOW - 60, "tokens": {"input": 10, "output": 5}, "cost": 0.1},
        {"job_id": "a", "ended_at": NOW - DAY_SEC - 60, "tokens": {"input": 999, "output": 1}},
        {"job_id": "b", "ended_at": NOW - 30, "tokens": {"input": "x", "output": 2}},
        {"job_id": "c", "ended_at": NOW - 30},  # from before tokens were counted
    ]
    window = window_from_runs(rows, NOW)
    assert (window.job_tokens("a", NOW), window.total_tokens(NOW)) == (15, 17)
    assert window.total_cost(NOW) == pytest.approx(0.1)


def test_spent_reasons_name_the_budget() -> None:
    window = SpendWindow()
    window.add(NOW - 1, "a", 400, 2.0)
    job_spent = spent_reason(Limits(job_day_tokens=400), window, "a", NOW)
    assert job_spent is not None and "max_tokens_per_day=400" in job_spent
    assert spent_reason(Limits(job_day_tokens=400), window, "b", NOW) is None
    global_spent = spent_reason(Limits(day_tokens=300), window, "b", NOW)
    assert global_spent is not None and "[budget] max_tokens_per_day=300" in global_spent
    cost_spent = spent_reason(Limits(day_cost=2.0), window, "b", NOW)
    assert cost_spent is not None and "max_cost_per_day" in cost_spent
    assert spent_reason(Limits(day_cost=2.5, day_tokens=401), window, "a", NOW) is None


def test_allowance_is_the_tightest_remaining() -> None:
    window = SpendWindow()
    window.add(NOW - 1, "a", 300, 1.0)
    window.add(NOW - 1, "b", 500, 0.0)
    limits = Limits(run_tokens=1000, job_day_tokens=400, day_tokens=2000, day_cost=3.0)
    allowance = allowance_for(limits, window, "a", NOW)
    assert (allowance.max_tokens, allowance.max_cost) == (100, pytest.approx(2.0))
    assert allowance_for(Limits(day_tokens=700), window, "a", NOW).max_tokens == 0
    assert allowance_for(Limits(), window, "a", NOW).max_tokens is None


def test_stop_reason_before_the_next_request() -> None:
    assert stop_reason(99, 0.0, {"max_tokens": 100}) is None
    reached = stop_reason(100, 0.0, {"max_tokens": 100})
    assert reached is not None and "100 of 100" in reached
    assert stop_reason(0, 0.0, {"max_tokens": None, "max_cost": None}) is None
    assert stop_reason(0, 0.5, {"max_cost": 0.5}) is not None
    assert cost_of(1_000_000, 500_000, 2.0, 8.0) == pytest.approx(6.0)


# -- backends ---------------------------------------------------------------------


class _Backend:
    def __init__(self, fallback: str = "") -> None:
        self.fallback = fallback


def test_chain_follows_fallbacks_once() -> None:
    backends = {"default": _Backend(), "local": _Backend("cloud"), "cloud": _Backend()}
    assert chain(backends, "local") == ["local", "cloud"]
    assert chain(backends, "cloud") == ["cloud"]
    assert chain(backends, "missing") == []


def test_reference_problems_find_unknown_names_and_loops() -> None:
    assert reference_problems({"default": _Backend(), "a": _Backend("nowhere")})[0].startswith(
        "[backends.a] fallback = 'nowhere' names no backend"
    )
    looping = reference_problems({"default": _Backend(), "a": _Backend("b"), "b": _Backend("a")})
    assert len(looping) == 2 and all("loop" in text for text in looping)
    assert reference_problems({"default": _Backend("a"), "a": _Backend()}) == []


@pytest.mark.parametrize(
    ("kind", "retryable", "unavailable"),
    [
        ("unreachable", True, True),
        ("http", True, True),  # 5xx or 429 after the backend's own retries
        ("http", False, False),  # 400, 404: the backend answered
        ("auth", False, False),
        ("model", False, False),
        ("refusal", False, False),
        ("malformed", False, False),
        ("timeout", False, False),
    ],
)
def test_only_unavailability_leads_to_a_fallback(
    kind: str, retryable: bool, unavailable: bool
) -> None:
    assert is_unavailable(kind, retryable) is unavailable


def test_free_slot_counts_runs_of_the_backend() -> None:
    caps = {"local": 2, "default": 0}
    assert free_slot("local", caps, ["local", "default"])
    assert not free_slot("local", caps, ["local", "local", "default"])
    assert free_slot("default", caps, ["default"] * 50)  # 0 is no cap


# -- retries ----------------------------------------------------------------------


def test_backoff_doubles_each_attempt() -> None:
    assert [backoff_sec(k, 30) for k in (1, 2, 3)] == [30, 60, 120]


def test_retry_plan() -> None:
    base = {"retries": 2, "backoff_base_sec": 10, "ended_at": NOW, "next_instant": NOW + 100}
    first = plan_retry(status="error", attempt=1, **base)
    assert first is not None and (first.attempt, first.delay_sec, first.start_at) == (
        2,
        10,
        NOW + 10,
    )
    second = plan_retry(status="crashed", attempt=2, **base)
    assert second is not None and (second.attempt, second.delay_sec) == (3, 20)
    assert plan_retry(status="timeout", attempt=3, **base) is None  # retries used up
    for status in ("ok", "denied", "budget", "invalid_result", "interrupted"):
        assert plan_retry(status=status, attempt=1, **base) is None
    # Never past the job's next instant: that instant runs instead.
    assert plan_retry(status="error", attempt=1, **{**base, "next_instant": NOW + 10}) is None
    assert plan_retry(status="error", attempt=1, **{**base, "next_instant": None}) is not None


# -- configuration and frames -------------------------------------------------------


def test_named_backends_budget_and_job_keys_are_read() -> None:
    data = {
        "backend": {"base_url": "http://127.0.0.1:1/v1", "fallback": "cloud"},
        "backends": {
            "local": {"base_url": "http://127.0.0.1:11434/v1", "max_concurrent": 2},
            "cloud": {"model": "big", "price_per_mtok_input": 3, "price_per_mtok_output": 15.5},
        },
        "budget": {"max_tokens_per_day": 2_000_000, "max_cost_per_day": 5},
    }
    config, warnings, _ = build_config(data, "test.toml", {})
    assert warnings == []
    assert sorted(all_backends(config)) == ["cloud", "default", "local"]
    assert config.backends["local"].max_concurrent == 2
    assert config.backends["cloud"].price_per_mtok_output == 15.5
    assert config.backends["cloud"].price_per_mtok_input == 3.0
    assert (config.budget.max_tokens_per_day, config.budget.max_cost_per_day) == (2_000_000, 5.0)
    jobs = validate_jobs(
        [
            {"id": "a", "goal": "g", "every_sec": 60, "backend": "local", "retries": 2},
            {"id": "b", "goal": "g", "every_sec": 60, "backend": "nope"},
            {"id": "c", "goal": "g", "every_sec": 60, "max_tokens_per_run": 0},
        ],
        backends=frozenset(all_backends(config)),
    )
    (job,) = jobs.jobs
    assert (job.backend, job.retries, job.retry_backoff_sec) == ("local", 2, 30)
    reasons = [bad.reason for bad in jobs.invalid]
    assert reasons[0].startswith("backend 'nope' is not configured (known: cloud, default, local)")
    assert reasons[1].startswith("max_tokens_per_run must be a whole number from 1")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backends": {"x": {"fallback": "y"}}}, "[backends.x] fallback = 'y' names no backend"),
        ({"backends": {"x": {"max_concurrent": -1}}}, "[backends.x] max_concurrent must be >= 0"),
        ({"backends": {"x": {"modle": "m"}}}, "unknown key [backends.x] modle"),
        ({"backends": {"default": {}}}, "not 'default'"),
        ({"backends": {"x": 3}}, "[backends.x] must be a table"),
        ({"budget": {"max_cost_per_day": -1}}, "[budget] max_cost_per_day must be a finite"),
        ({"backend": {"price_per_mtok_input": "cheap"}}, "must be a number"),
    ],
)
def test_bad_spend_settings_are_one_line_config_errors(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build_config(data, "test.toml", {})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_budget_can_come_from_the_environment() -> None:
    config, _, applied = build_config({}, "x", {"SCOOT_BUDGET_MAX_COST_PER_DAY": "2.5"})
    assert config.budget.max_cost_per_day == 2.5 and applied == ["SCOOT_BUDGET_MAX_COST_PER_DAY"]


def test_usage_frames_are_checked() -> None:
    frame = decode_frame(b'{"type":"usage","input":3,"output":4,"reported":true,"backend":"x"}')
    assert frame == UsageFrame(3, 4, True, "x")
    for bad in (
        b'{"type":"usage","input":-1,"output":4,"reported":true,"backend":"x"}',
        b'{"type":"usage","input":1e30,"output":4,"reported":true,"backend":"x"}',
        b'{"type":"usage","input":1,"output":4,"reported":"yes","backend":"x"}',
    ):
        with pytest.raises(FrameError):
            decode_frame(bad)


def test_a_readonly_ruleset_allows_the_fallback_ports_and_no_other() -> None:
    from worker.sandbox import NET_CONNECT_TCP, Reach, landlock_restrictions, plan_landlock

    reach = Reach(cwd=None, scratch_dir="/tmp", fallback_ports=(8443, 11434, 0))
    plan = plan_landlock(4, "/tmp", 11434, reach=reach, list_dir=lambda _path: [])
    assert plan.port_rules == ((11434, NET_CONNECT_TCP), (8443, NET_CONNECT_TCP))
    shown = landlock_restrictions(plan, 11434)["net_connect"].why
    assert shown.startswith("TCP connect to port 11434, 8443 only")


def test_every_backends_token_file_is_kept_from_tools(tmp_path) -> None:
    from scoot.instance.home import Home
    from scoot.supervise.spec import kernel_protected_paths

    secret = tmp_path / "cloud.token"
    data = {"backends": {"cloud": {"api_key_file": str(secret)}}}
    config, _, _ = build_config(data, "test.toml", {})
    home = Home(tmp_path / "home")
    assert str(secret) in kernel_protected_paths(home, config)
