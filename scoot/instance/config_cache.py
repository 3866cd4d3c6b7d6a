"""A parsed copy of config.toml, so a start with the file unchanged skips the TOML parser.

With ten thousand jobs, parsing the TOML is the largest single cost of a start;
reading the same table back from `marshal` takes about a fiftieth of it. The
copy lives in `<home>/state/config.cache`:

    scoot-config-cache 1 <interpreter tag>\\n  <sha256 of config.toml>  <sha256 of data>  data

It is used only when the config file's bytes hash to the digest it names (the
bytes decide, not their mtime: an edit within one clock tick is still seen),
its data is intact, it was written by this interpreter's marshal format, and
it belongs to the user reading it. Anything else (stale, torn, foreign,
unreadable) is ignored and the file parsed as usual, so a broken config fails
exactly as it would without a cache. It is written only after a parse that
succeeded, atomically and durably like every file the daemon writes (temp,
fsync, rename), mode 0600, into a state directory the user owns;
failing to write it changes nothing else.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
from pathlib import Path
from typing import Any

from scoot import __version__
from scoot.records.files import atomic_write_bytes, read_bounded

CACHE_NAME = "config.cache"
# The interpreter's exact version and scoot's: a parse by another interpreter or scoot is
# not reused (scoot's pinned parser reads TOML 1.0 as tomllib of Python 3.11 does).
_MAGIC = (
    f"scoot-config-cache 1 {sys.implementation.cache_tag} {marshal.version} "
    f"{sys.version.split()[0]} {__version__}\n"
).encode()
# Writable by group or others: what they could have put there is not read as ours.
_SHARED_WRITE = stat.S_IWGRP | stat.S_IWOTH
_DIGEST = 32
# Twice the config's own bound leaves room for marshal's framing of the same table.
_MAX_CACHE_BYTES = 2 * 1024 * 1024 + len(_MAGIC) + 2 * _DIGEST


def cache_path(state_dir: Path) -> Path:
    return state_dir / CACHE_NAME


def load_cached(state_dir: Path, source: bytes) -> dict[str, Any] | None:
    """The table parsed from `source` when the cache holds it, else None."""
    if not _private_dir(state_dir):
        return None
    blob = _read_own_file(cache_path(state_dir))
    if blob is None or not blob.startswith(_MAGIC):
        return None
    start = len(_MAGIC)
    source_digest = blob[start : start + _DIGEST]
    data_digest = blob[start + _DIGEST : start + 2 * _DIGEST]
    payload = blob[start + 2 * _DIGEST :]
    if source_digest != _sha256(source):
        return None
    if data_digest != _sha256(payload):
        return None
    try:
        data = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def store_cached(state_dir: Path, source: bytes, data: dict[str, Any]) -> None:
    """Keep `data` as the parse of `source`; quietly nothing when it cannot be kept."""
    try:
        # TOML dates and times are not marshal types: such a config is parsed each time.
        payload = marshal.dumps(data)
    except ValueError:
        return
    if len(payload) + len(_MAGIC) + 2 * _DIGEST > _MAX_CACHE_BYTES:
        return
    try:
        if not _private_dir(state_dir):
            return  # never leave a file of ours where someone else could replace it
        blob = _MAGIC + _sha256(source) + _sha256(payload)
        atomic_write_bytes(cache_path(state_dir), blob + payload)
    except OSError:
        return


def _private_dir(directory: Path) -> bool:
    """A directory of ours that only we may write in."""
    try:
        info = os.stat(directory)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & _SHARED_WRITE
    )


def _read_own_file(path: Path) -> bytes | None:
    """The bytes of a regular file of ours no larger than the bound, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & _SHARED_WRITE
            or info.st_size > _MAX_CACHE_BYTES
        ):
            return None
        return read_bounded(fd, _MAX_CACHE_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)


def _sha256(data: bytes) -> bytes:
    import hashlib  # here: OpenSSL's libcrypto is loaded only by a start that uses the cache

    return hashlib.sha256(data).digest()
