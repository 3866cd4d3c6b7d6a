"""The run spec contract: built by the parent, sent as JSON, parsed and checked once by the worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from scoot.instance.open import open_instance
from scoot.shared.run_spec import RUN_SPEC_VERSION, RunSpec, RunSpecError
from scoot.supervise.requests import RequestMaker
from scoot.supervise.spec import build_spec, limits_for
from tests.helpers import write_config
from tests.run_specs import backend_wire, wire_spec
from worker.main import child_main


def built_spec(home: Path, **keywords: Any) -> RunSpec:
    """A spec as the supervisor builds it, from a real runtime directory."""
    write_config(
        home,
        sections={
            "backend": {"fallback": "cloud", "price_per_mtok_input": 0.5},
            "backends": {"cloud": {"base_url": "http://127.0.0.1:7/v1", "model": "big"}},
            "sandbox": {"nofile": 0, "cpu_sec": 30},
        },
    )
    instance = open_instance(str(home))
    maker = RequestMaker(instance.home, instance.config, str(home), job_timeout_sec=60)
    request = maker.for_goal(
        "count", mode="guarded", origin="schedule", session_id="job-j", now=0.0, job_id="j"
    )
    return build_spec(
        instance.config,
        instance.home,
        request,
        token="tok-default",
        cwd=str(home),
        limits=limits_for(instance.config, None),
        token_for=lambda name: f"tok-{name}",
        **keywords,
    )


def test_a_built_spec_reads_back_equal_from_its_json(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["used_pct"]}
    spec = built_spec(
        tmp_path / "home", expect_schema=schema, allowance={"max_tokens": 90, "max_cost": 0.25}
    )
    wire = orjson.loads(orjson.dumps(spec.to_dict()))
    assert wire["version"] == RUN_SPEC_VERSION
    again = RunSpec.from_dict(wire)
    assert again == spec
    assert [b.name for b in again.backends] == ["default", "cloud"]
    assert [b.token for b in again.backends] == ["tok-default", "tok-cloud"]
    assert again.backend.price_input == 0.5 and again.fallbacks[0].model == "big"
    assert again.expect_schema == schema
    assert (again.budget.max_tokens, again.budget.max_cost) == (90, 0.25)
    # 0 in the configuration is no limit, and reaches the worker as None.
    assert again.sandbox.limits["nofile"] is None and again.sandbox.limits["cpu_sec"] == 30
    assert again.protected.paths and again.sandbox.protected


def test_a_spec_without_a_schema_or_allowance_says_so_with_nulls(tmp_path: Path) -> None:
    wire = built_spec(tmp_path / "home").to_dict()
    assert wire["expect_schema"] is None
    assert wire["budget"] == {"max_tokens": None, "max_cost": None}
    assert RunSpec.from_dict(wire).expect_schema is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"version": "scoot.run_spec.v2"},
            "run spec version 'scoot.run_spec.v2' is not 'scoot.run_spec.v1'",
        ),
        ({"version": None}, "run spec version None is not 'scoot.run_spec.v1'"),
        ({"colour": "blue"}, "run spec has unknown field(s) 'colour'"),
        ({"tools": {"shell": "zsh"}}, "run spec has unknown field(s) 'tools.shell'"),
        ({"max_turns": "8"}, "run spec field 'max_turns' must be a whole number >= 1, got str"),
        ({"max_turns": 0}, "run spec field 'max_turns' must be a whole number >= 1, got int"),
        ({"job_id": 7}, "run spec field 'job_id' must be a string, got int"),
        (
            {"fallbacks": [backend_wire(retries=-1)]},
            "run spec field 'fallbacks[0].retries' must be a whole number >= 0, got int",
        ),
        (
            {"backend": backend_wire(prices={"input": -1.0, "output": 0.0})},
            "run spec field 'backend.prices.input' must be a number >= 0, got float",
        ),
    ],
)
def test_a_spec_it_cannot_use_is_refused_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    wire = wire_spec(**change)
    with pytest.raises(RunSpecError) as raised:
        RunSpec.from_dict(wire)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("path", [("goal",), ("sandbox", "scratch_dir"), ("backend", "model")])
def test_a_missing_field_is_named(path: tuple[str, ...]) -> None:
    wire = wire_spec()
    section = wire
    for key in path[:-1]:
        section = section[key]
    del section[path[-1]]
    dotted = ".".join(path)
    with pytest.raises(RunSpecError, match=rf"^run spec field '{dotted}' is missing$"):
        RunSpec.from_dict(wire)


def run_worker_on(payload: bytes) -> tuple[int, list[dict[str, Any]]]:
    """The real worker entry in a forked child, fed `payload` on its spec pipe."""
    spec_r, spec_w = os.pipe()
    frame_r, frame_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(spec_w)
            os.close(frame_r)
            code = child_main(spec_r, frame_w, os.getppid())
        finally:
            os._exit(code)
    os.close(spec_r)
    os.close(frame_w)
    os.write(spec_w, payload)
    os.close(spec_w)
    chunks = []
    while chunk := os.read(frame_r, 65536):
        chunks.append(chunk)
    os.close(frame_r)
    _, status = os.waitpid(pid, 0)
    frames = [orjson.loads(line) for line in b"".join(chunks).splitlines()]
    return os.waitstatus_to_exitcode(status), frames


def test_the_worker_refuses_a_spec_of_another_version_in_one_result() -> None:
    wire = wire_spec(version="scoot.run_spec.v0")
    code, frames = run_worker_on(orjson.dumps(wire))
    assert code == 2
    [result] = frames
    assert result["type"] == "result" and result["status"] == "error"
    assert result["error"].startswith(
        "bad run spec: run spec version 'scoot.run_spec.v0' is not 'scoot.run_spec.v1'"
    )


def test_the_worker_refuses_a_spec_with_an_unknown_field_before_any_hello() -> None:
    code, frames = run_worker_on(orjson.dumps(wire_spec(sandbox={"seccomp": "off"})))
    assert code == 2
    assert [f["type"] for f in frames] == ["result"]
    assert frames[0]["error"] == "bad run spec: run spec has unknown field(s) 'sandbox.seccomp'"
