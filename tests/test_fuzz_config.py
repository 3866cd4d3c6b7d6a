"""Mutated config files never crash `schedule list` or `config`: exit 0 with warnings, or exit 2.

Each case runs the same entry point as the console script (`scoot.cli.commands.main`), so
an internal error or a traceback fails the test. The token variable is always
set, so a fuzzed config can never make scoot run an `api_key_cmd`.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoot.instance.config import SECTION_CLASSES, effective_values
from scoot.instance.config import Config as DefaultConfig
from scoot.instance.home import Home, ensure_tree
from scoot.schedule.jobs import KNOWN_KEYS

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID_TOML = b"""# a config a person might write
[backend]
base_url = "http://127.0.0.1:11434/v1"
model = "qwen2.5"
timeout_ms = 120000
extra_body = { temperature = 0.2, options = { num_ctx = 8192 } }

[agent]
max_turns = 32

[tools]
policy = "guarded"
confine_writes = true

[schedule]
enabled = true
poll_ms = 1000
max_concurrent = 2

[[schedule.jobs]]
id = "disk-check"
goal = "Inspect disk usage and summarize anomalies"
every_sec = 300

[[schedule.jobs]]
id = "weekly.report"
goal = "Write the weekly report"
cron = "0 9 * * mon-fri"
mode = "guarded"
timeout_sec = 120

[[schedule.jobs]]
id = "once"
goal = "One time"
at_unix = 1893456000
catch_up = "once"
max_late_sec = 30.5
"""

VALID_JSON = json.dumps(
    {
        "backend": {"model": "llama3", "extra_body": {"top_p": 0.9}},
        "schedule": {
            "enabled": True,
            "jobs": [
                {"id": "a", "goal": "look", "every_sec": 60},
                {"id": "b", "goal": "cron", "cron": "*/5 * * * *", "mode": "unrestricted"},
            ],
        },
    },
    indent=2,
).encode()

# Every config key except the one that runs a command.
KNOWN_FIELDS = [
    (section, key)
    for section, key, _ in effective_values(DefaultConfig())
    if (section, key) != ("backend", "api_key_cmd")
] + [("schedule", "jobs")]


# --- writing TOML values -------------------------------------------------------------------


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(type(value))


def toml_document(sections: dict[str, dict[str, Any]], jobs: list[dict[str, Any]]) -> bytes:
    parts = []
    for section, body in sections.items():
        parts.append(f"[{toml_string(section)}]")
        parts.extend(f"{toml_string(k)} = {toml_value(v)}" for k, v in body.items())
    for job in jobs:
        parts.append("[[schedule.jobs]]")
        parts.extend(f"{toml_string(k)} = {toml_value(v)}" for k, v in job.items())
    return ("\n".join(parts) + "\n").encode("utf-8")


# --- strategies ----------------------------------------------------------------------------

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=2**31 - 3, max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "readonly", "guarded", "unrestricted", "chat", "once", "skip", "* * *"]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
)
# Flat on purpose: nested strategies cost more to draw than the commands cost to run.
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
)
cron_like = st.text(alphabet="0123456789*/,-? LWmonfrisujadecMONJ#@", min_size=0, max_size=24)
id_like = st.one_of(
    st.text(alphabet="abcXYZ019._-/ \n", min_size=0, max_size=70),
    st.sampled_from(["a", "b", "a", "..", ".", "x" * 64, "x" * 65]),
)
job_values: dict[str, st.SearchStrategy[Any]] = {
    "id": id_like,
    "goal": st.one_of(st.text(max_size=30), values),
    "every_sec": st.one_of(st.integers(min_value=-2, max_value=10**12), values),
    "at_unix": st.one_of(st.floats(), st.integers(min_value=-(2**40), max_value=2**40), values),
    "cron": st.one_of(cron_like, values),
    "mode": st.one_of(st.sampled_from(["readonly", "guarded", "unrestricted", "x"]), values),
    "timeout_sec": values,
    "catch_up": st.one_of(st.sampled_from(["skip", "once"]), values),
    "max_late_sec": values,
    "cwd": values,
}
any_job = st.fixed_dictionaries(
    {},
    optional={
        **{key: values for key in sorted(KNOWN_KEYS | {"colour", "Every_sec"})},
        **job_values,
    },
)


def _plausible(
    trigger: str, triggers: dict[str, Any], job_id: str, goal: str, extras: dict[str, Any]
) -> dict[str, Any]:
    return {"id": job_id, "goal": goal, trigger: triggers[trigger], **extras}


# A valid id, a goal and exactly one trigger: gets past the first checks to the
# planner and the renderer, where odd numbers and strings can still hurt.
# Numbers at the edges of what time functions, timers and rlimits accept.
edge_numbers = st.sampled_from(
    [0, 1, 2**31 - 1, 2**31, 2**53, 2**63, 2**64, 253402300799, 253402300800, 1e18, 1e300]
    + [-1, -0.0, 0.5, float("nan"), float("inf"), float("-inf")]
)
plausible_job = st.builds(
    _plausible,
    st.sampled_from(["every_sec", "at_unix", "cron"]),
    st.fixed_dictionaries(
        {
            "every_sec": st.one_of(st.integers(min_value=-1, max_value=2**40), edge_numbers),
            "at_unix": st.one_of(
                st.floats(), st.integers(min_value=-1, max_value=2**40), edge_numbers
            ),
            "cron": st.one_of(
                st.sampled_from(["* * * * *", "*/7 1-5 * * *", "0 0 29 2 *", "0 0 1 1 7"]),
                cron_like,
            ),
        }
    ),
    st.sampled_from(["a", "b", "job-1", "x.y"]),
    st.text(min_size=1, max_size=20),
    st.fixed_dictionaries(
        {},
        optional={
            "mode": st.sampled_from(["readonly", "guarded", "unrestricted", "x"]),
            "timeout_sec": st.one_of(st.integers(min_value=-1, max_value=2**40), edge_numbers),
            "catch_up": st.sampled_from(["skip", "once", "never"]),
            "max_late_sec": st.one_of(
                st.floats(), st.integers(min_value=-1, max_value=2**40), edge_numbers
            ),
            "cwd": st.text(max_size=10),
            "cpu_sec": st.integers(min_value=-1, max_value=2**64),
        },
    ),
)
jobs = st.lists(st.one_of(plausible_job, any_job), max_size=4)


# --- the check -----------------------------------------------------------------------------


@pytest.fixture
def fuzz_home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "fuzz-home")
    ensure_tree(home)
    return home


def put_config(home: Home, name: str, data: bytes) -> None:
    for path in (home.config_toml, home.config_json):
        path.unlink(missing_ok=True)
    (home.root / name).write_bytes(data)


def assert_clean_outcome(run_main, home: Home) -> None:
    for args in (
        ["schedule", "list"],
        ["schedule", "list", "--json"],
        ["config"],
        ["config", "--json"],
    ):
        code, out, err = run_main(
            "--scoot-home", str(home.root), *args, env={"OPENAI_API_KEY": "fuzz-token"}
        )
        assert "Traceback" not in err, err
        assert "internal error" not in err, err
        assert code in (0, 2), (args, code, err)
        lines = err.splitlines()
        if code == 2:
            assert len(lines) == 1, err
            assert lines[0].startswith("scoot: ") and str(home.root) in lines[0], lines[0]
            assert out == ""
        else:
            assert all(line.startswith("scoot: warning: ") for line in lines), err
            assert out
            if args[-1] == "--json":
                json.loads(out)


@FUZZ
@given(
    base=st.sampled_from([("config.toml", VALID_TOML), ("config.json", VALID_JSON)]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_flipped_and_truncated_files(
    run_main, fuzz_home: Home, base: tuple[str, bytes], flips: list[tuple[float, int]], cut
) -> None:
    name, data = base
    mutated = bytearray(data)
    for where, byte in flips:
        mutated[int(where * len(mutated))] = byte
    if cut is not None:
        mutated = mutated[: int(cut * len(mutated))]
    put_config(fuzz_home, name, bytes(mutated))
    assert_clean_outcome(run_main, fuzz_home)


@FUZZ
@given(
    changes=st.lists(st.tuples(st.sampled_from(KNOWN_FIELDS), values), min_size=1, max_size=4),
    as_json=st.booleans(),
)
def test_wrong_values_in_known_keys(
    run_main, fuzz_home: Home, changes: list[tuple[tuple[str, str], Any]], as_json: bool
) -> None:
    sections: dict[str, dict[str, Any]] = {}
    for (section, key), value in changes:
        sections.setdefault(section, {})[key] = value
    if as_json:
        data = json.dumps(sections, default=str).encode()
        put_config(fuzz_home, "config.json", data)
    else:
        put_config(fuzz_home, "config.toml", toml_document(sections, []))
    assert_clean_outcome(run_main, fuzz_home)


@FUZZ
@given(
    job_tables=jobs,
    enabled=st.booleans(),
    extra_sections=st.dictionaries(
        st.one_of(st.sampled_from(sorted(SECTION_CLASSES)), st.text(max_size=6)),
        st.dictionaries(st.text(max_size=6), scalars, max_size=2),
        max_size=2,
    ),
)
def test_random_job_tables(
    run_main,
    fuzz_home: Home,
    job_tables: list[dict[str, Any]],
    enabled: bool,
    extra_sections: dict[str, dict[str, Any]],
) -> None:
    sections = {k: v for k, v in extra_sections.items() if k != "schedule"}
    sections.setdefault("backend", {}).pop("api_key_cmd", None)
    sections["schedule"] = {"enabled": enabled}
    put_config(fuzz_home, "config.toml", toml_document(sections, job_tables))
    assert_clean_outcome(run_main, fuzz_home)


@FUZZ
@given(job_tables=jobs)
def test_random_job_tables_in_json(
    run_main, fuzz_home: Home, job_tables: list[dict[str, Any]]
) -> None:
    data = json.dumps({"schedule": {"enabled": True, "jobs": job_tables}}, default=str)
    put_config(fuzz_home, "config.json", data.encode())
    assert_clean_outcome(run_main, fuzz_home)


def test_the_base_files_are_valid(run_main, fuzz_home: Home) -> None:
    for name, data in (("config.toml", VALID_TOML), ("config.json", VALID_JSON)):
        put_config(fuzz_home, name, data)
        code, out, err = run_main("--scoot-home", str(fuzz_home.root), "schedule", "list", "--json")
        assert code == 0 and err == "", err
        assert all(
            job["reason"] in (None, "one-shot already fired") for job in json.loads(out)["jobs"]
        )
