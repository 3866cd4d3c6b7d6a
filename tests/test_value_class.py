"""value_class: compared and hashed as a frozen dataclass, and immutable to mypy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from scoot.schedule.cron import parse_cron
from scoot.shared.value_class import value_class

pytestmark = pytest.mark.timeout(120)


@value_class
class Point:
    x: int
    tags: tuple[str, ...] = dataclasses.field(default=())


@value_class(slots=True, kw_only=True)
class Named:
    name: str


def test_equality_hash_and_replace_are_those_of_a_frozen_dataclass() -> None:
    @dataclasses.dataclass(frozen=True)
    class FrozenPoint:
        x: int
        tags: tuple[str, ...] = ()

    a, b = Point(1, ("t",)), Point(1, ("t",))
    assert a == b and a is not b and hash(a) == hash(b)
    assert hash(a) == hash(FrozenPoint(1, ("t",)))  # the same hash of the same fields
    assert a != Point(2, ("t",)) and len({a, b, Point(2)}) == 2
    assert dataclasses.replace(a, x=3) == Point(3, ("t",)) and a.x == 1
    assert [f.name for f in dataclasses.fields(a)] == ["x", "tags"]
    assert repr(a) == "Point(x=1, tags=('t',))"
    named = Named(name="n")
    assert not hasattr(named, "__dict__") and {named: 1}[Named(name="n")] == 1
    with pytest.raises(TypeError):
        Named("n")  # type: ignore[misc]  (keyword only, as asked)


@value_class
class Tagged:
    name: str
    args: dict[str, int] = dataclasses.field(hash=False)
    seen: int = dataclasses.field(default=0, compare=False, repr=False)


@value_class
class Secret:
    value: str

    def __repr__(self) -> str:
        return "Secret(<hidden>)"


def test_field_options_and_a_class_s_own_methods_are_honoured() -> None:
    @dataclasses.dataclass(frozen=True)
    class FrozenTagged:
        name: str
        args: dict[str, int] = dataclasses.field(hash=False)
        seen: int = dataclasses.field(default=0, compare=False, repr=False)

    one = Tagged("a", {"n": 1}, seen=1)
    assert one == Tagged("a", {"n": 1}, seen=2)  # seen is not compared
    assert one != Tagged("a", {"n": 2})  # args is compared, though not hashed
    assert hash(one) == hash(Tagged("a", {"n": 2})) == hash(FrozenTagged("a", {"n": 2}))
    assert repr(one) == "Tagged(name='a', args={'n': 1})"
    assert repr(FrozenTagged("a", {"n": 1})).endswith("Frozen" + repr(one))  # and its qualname
    assert one != FrozenTagged("a", {"n": 1}) and one.__eq__(("a", {"n": 1})) is NotImplemented
    assert repr(Secret("s3cr3t")) == "Secret(<hidden>)"


def test_a_value_built_in_post_init_keeps_its_derived_fields() -> None:
    # CronExpr sets its masks in __post_init__; equal expressions stay equal and hash alike.
    first, second = parse_cron("*/5 * * * *"), parse_cron("*/5 * * * *")
    assert first == second and hash(first) == hash(second)
    assert first != parse_cron("*/10 * * * *")


def test_mypy_rejects_an_assignment_to_a_field(tmp_path: Path) -> None:
    source = tmp_path / "mutates.py"
    source.write_text(
        "from scoot.shared.value_class import value_class\n"
        "from scoot.schedule.cron import parse_cron\n\n\n"
        "@value_class\n"
        "class Point:\n"
        "    x: int\n\n\n"
        "Point(1).x = 2\n"
        "parse_cron('* * * * *').minutes = (1,)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("is read-only") == 2, done.stdout
