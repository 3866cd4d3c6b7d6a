"""The parsed copy of config.toml (state/config.cache): used only while it is the file's."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from scoot.errors import ConfigError
from scoot.instance.config import load_config
from scoot.instance.config_cache import cache_path, load_cached, store_cached
from scoot.instance.home import Home
from scoot.instance.open import open_instance

CONFIG = '[schedule]\nenabled = true\npoll_ms = 250\n[[schedule.jobs]]\nid = "a"\ngoal = "g"\nevery_sec = 60\n'


def write(home: Home, text: str) -> bytes:
    home.config_toml.write_text(text, encoding="utf-8")
    return home.config_toml.read_bytes()


def test_a_command_that_writes_the_home_keeps_the_parse_and_the_next_start_reads_it(
    home: Home,
) -> None:
    raw = write(home, CONFIG)
    instance = open_instance(str(home.root))
    assert instance.config.schedule.poll_ms == 250
    path = cache_path(home.state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The copy, not the file, answers now: a copy claiming other values for these bytes wins.
    store_cached(home.state, raw, {"schedule": {"enabled": True, "poll_ms": 999}})
    assert load_config(home).config.schedule.poll_ms == 999


def test_a_read_only_open_keeps_the_parse_and_a_bare_load_does_not(home: Home) -> None:
    write(home, CONFIG)
    load_config(home)
    assert not cache_path(home.state).exists()
    open_instance(str(home.root), create=False)
    assert load_cached(home.state, home.config_toml.read_bytes()) is not None


def test_an_edit_is_seen_even_with_the_same_size_and_mtime(home: Home) -> None:
    write(home, CONFIG)
    load_config(home, keep_parse=True)
    stamp = home.config_toml.stat()
    write(home, CONFIG.replace("250", "750"))
    os.utime(home.config_toml, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert home.config_toml.stat().st_size == stamp.st_size
    assert load_config(home).config.schedule.poll_ms == 750


def test_a_torn_or_foreign_format_copy_is_ignored(home: Home) -> None:
    raw = write(home, CONFIG)
    store_cached(home.state, raw, {"schedule": {"poll_ms": 999}})
    path = cache_path(home.state)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    assert load_cached(home.state, raw) is None
    assert load_config(home).config.schedule.poll_ms == 250
    path.write_bytes(b"scoot-config-cache 0 cpython-27 2\n" + bytes(blob[40:]))
    assert load_config(home).config.schedule.poll_ms == 250
    path.write_bytes(b"")
    assert load_config(home).config.schedule.poll_ms == 250


def test_a_broken_config_fails_as_without_a_copy_and_leaves_the_copy_alone(home: Home) -> None:
    write(home, CONFIG)
    load_config(home, keep_parse=True)
    kept = cache_path(home.state).read_bytes()
    write(home, '[schedule]\nenabled = true\npoll_ms = "fast"\n')
    with pytest.raises(ConfigError) as cached_try:
        load_config(home, keep_parse=True)
    cache_path(home.state).unlink()
    with pytest.raises(ConfigError) as plain_try:
        load_config(home, keep_parse=True)
    assert str(cached_try.value) == str(plain_try.value)
    assert "[schedule] poll_ms must be an integer" in str(plain_try.value)
    assert not cache_path(home.state).exists()  # an unusable config is never kept
    write(home, "[schedule\n")
    cache_path(home.state).write_bytes(kept)
    with pytest.raises(ConfigError, match=r"config.toml:1:10: .*fix the TOML syntax there"):
        load_config(home, keep_parse=True)
    assert cache_path(home.state).read_bytes() == kept


def test_dates_in_the_file_are_read_each_time(home: Home) -> None:
    # TOML dates have no marshal form: such a file is simply parsed at every start.
    write(home, CONFIG + "[ui]\nsince = 1979-05-27\n")
    assert load_config(home, keep_parse=True).config.schedule.poll_ms == 250
    assert not cache_path(home.state).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_copy_or_a_state_directory_of_another_user_is_never_used(home: Home) -> None:
    raw = write(home, CONFIG)
    store_cached(home.state, raw, {"schedule": {"poll_ms": 999}})
    os.chown(cache_path(home.state), 65534, 65534)
    assert load_cached(home.state, raw) is None
    assert load_config(home).config.schedule.poll_ms == 250
    cache_path(home.state).unlink()
    os.chown(home.state, 65534, 65534)
    load_config(home, keep_parse=True)
    assert not cache_path(home.state).exists()


def test_without_a_state_directory_nothing_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    home = Home(root)
    write(home, CONFIG)
    assert load_config(home, keep_parse=True).config.schedule.poll_ms == 250
    assert sorted(p.name for p in root.iterdir()) == ["config.toml"]


def test_the_cli_keeps_the_copy_of_each_edit_it_reads(run_main, home: Home) -> None:
    write(home, CONFIG)
    code, _, err = run_main("--scoot-home", str(home.root), "config")
    assert code == 0, err
    kept = cache_path(home.state).read_bytes()
    write(home, CONFIG.replace('id = "a"', 'id = "b"'))
    code, out, err = run_main("--scoot-home", str(home.root), "schedule", "list", "--json")
    assert code == 0, err
    assert [job["id"] for job in json.loads(out)["jobs"]] == ["b"]  # the edit, not the copy
    relisted = cache_path(home.state).read_bytes()
    assert relisted != kept  # the listing kept the parse of the edit
    code, out, err = run_main("--scoot-home", str(home.root), "schedule", "list", "--json")
    assert code == 0, err
    assert [job["id"] for job in json.loads(out)["jobs"]] == ["b"]
    assert cache_path(home.state).read_bytes() == relisted  # read back, not written again


def test_a_listing_of_a_directory_without_state_creates_nothing(run_main, tmp_path: Path) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    (root / "config.toml").write_text(CONFIG)
    code, out, err = run_main("--scoot-home", str(root), "schedule", "list", "--json")
    assert code == 0, err
    assert [job["id"] for job in json.loads(out)["jobs"]] == ["a"]
    assert sorted(p.name for p in root.iterdir()) == ["config.toml"]


def test_a_copy_others_could_write_is_never_read(home: Home) -> None:
    raw = write(home, CONFIG)
    store_cached(home.state, raw, {"schedule": {"enabled": True, "poll_ms": 999}})
    path = cache_path(home.state)
    assert load_cached(home.state, raw) is not None
    os.chmod(path, 0o620)  # group-writable: someone else may have put it there
    assert load_cached(home.state, raw) is None
    assert load_config(home).config.schedule.poll_ms == 250
    os.chmod(path, 0o600)
    mode = stat.S_IMODE(home.state.stat().st_mode)
    os.chmod(home.state, mode | stat.S_IWOTH)  # a directory others may write in
    try:
        assert load_cached(home.state, raw) is None
        path.unlink()
        store_cached(home.state, raw, {"schedule": {"poll_ms": 999}})
        assert not path.exists()  # nor is one left there
    finally:
        os.chmod(home.state, mode)


def test_a_link_planted_at_the_temp_name_is_never_written_through(
    home: Home, tmp_path: Path
) -> None:
    """The temp name is guessable: a symlink put there must not redirect the write."""
    raw = write(home, CONFIG)
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    planted = home.state / f".config.cache.{os.getpid()}.tmp"
    planted.symlink_to(victim)
    store_cached(home.state, raw, {"schedule": {"poll_ms": 999}})
    assert victim.read_bytes() == b"untouched"
    assert not planted.exists() and not planted.is_symlink()
    assert load_cached(home.state, raw) == {"schedule": {"poll_ms": 999}}


def test_a_leftover_temp_file_of_this_pid_is_replaced(home: Home) -> None:
    raw = write(home, CONFIG)
    (home.state / f".config.cache.{os.getpid()}.tmp").write_bytes(b"half of an old write")
    store_cached(home.state, raw, {"schedule": {"poll_ms": 998}})
    assert load_cached(home.state, raw) == {"schedule": {"poll_ms": 998}}
    assert sorted(p.name for p in home.state.iterdir() if p.name.endswith(".tmp")) == []
