"""config.toml is read as TOML 1.0, as Python 3.11's tomllib reads it, by the faster parser."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from scoot.instance import toml_parser
from tests.helpers import run_scoot

pytestmark = pytest.mark.timeout(60)

# TOML 1.1 only: each of these must stay an error, as tomllib of Python 3.11 says.
TOML_1_1 = [
    "a = { x = 1,\n y = 2 }\n",  # a newline inside an inline table
    "a = { x = 1, }\n",  # a trailing comma in an inline table
    'a = "\\e"\n',  # the escape character
    'a = "\\x41"\n',  # a two-digit hex escape
    "a = 07:32\n",  # a time without seconds
]

# TOML 1.0 the config uses: both parsers must give the same table.
TOML_1_0 = [
    '[schedule]\nenabled = true\npoll_ms = 250\n[[schedule.jobs]]\nid = "a"\ngoal = "g"\n'
    'cron = "*/5 * * * *"\nat_unix = 1.5e9\ntags = ["x", "y"]\n',
    'a = """\nline\\\n  joined"""\nb = \'lit\\n\'\nc = 0x1F\nd = 1979-05-27T07:32:00Z\n',
    "a = { x = 1, y = [1, 2.5, -inf] }\n[t.'q k']\nz = nan\n",
]


@pytest.mark.parametrize("text", TOML_1_1)
def test_toml_1_1_stays_an_error(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(text)
    with pytest.raises(toml_parser.TOMLDecodeError):
        toml_parser.loads(text)


@pytest.mark.parametrize("text", TOML_1_0)
def test_same_table_as_tomllib(text: str) -> None:
    ours, theirs = toml_parser.loads(text), tomllib.loads(text)
    assert repr(ours) == repr(theirs)  # repr: nan is never equal to itself


def test_the_cli_names_the_place_of_a_toml_1_1_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[schedule]\nenabled = { a = 1,\n b = 2 }\n")
    done = run_scoot(tmp_path, "config", "check")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{tmp_path / 'config.toml'}:2:" in lines[0] and "fix the TOML syntax there" in lines[0]
    assert "Traceback" not in done.stderr
