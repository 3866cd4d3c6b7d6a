"""Durable file writes: whole-file replace (temp, fsync, rename) and whole-line appends."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import orjson

from scoot.shared.fdio import write_all


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = create_new_file(tmp, mode)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def create_new_file(tmp: Path, mode: int) -> int:
    """A new file at `tmp`, never one that is there already, nor a link's target.

    Whoever can write the directory could plant a symlink under the temp name
    (it is guessable): O_EXCL refuses anything in the way, so a leftover of a
    process that died with this pid is removed (the link itself, never what it
    points to) and the file created once more, again only if nothing is there.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(tmp, flags, mode)
    except FileExistsError:
        _unlink_quietly(tmp)
        return os.open(tmp, flags, mode)


def read_format_document(data: bytes, fmt: str) -> dict[str, Any]:
    """A state file's JSON object, checked to carry `"format": fmt`; ValueError when not."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(value, dict) or value.get("format") != fmt:
        raise ValueError(f"not a {fmt} document")
    return value


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_append(path: Path) -> int:
    """An O_APPEND descriptor: each os.write of a whole line lands as one unit."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def append_line(path: Path, value: Any, *, sync: bool = False) -> None:
    """Append one JSON object as one line with a single write."""
    line = orjson.dumps(value) + b"\n"
    fd = open_append(path)
    try:
        write_all(fd, line)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_tail(path: Path, window: int) -> bytes:
    """The last `window` bytes of a file (b"" when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - window))
            return handle.read()
    except FileNotFoundError:
        return b""


def tail_objects(path: Path, window: int) -> list[dict[str, Any]]:
    """The JSON object lines in the last `window` bytes, oldest first.

    The window's first line may be cut and anything unparseable is skipped,
    so this suits recovery look-ups, not reading a file whole.
    """
    rows: list[dict[str, Any]] = []
    for line in read_tail(path, window).splitlines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            rows.append(value)
    return rows


def read_json_lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every object line of a JSONL file, and how many lines could not be parsed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    rows: list[dict[str, Any]] = []
    bad = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if isinstance(value, dict):
            rows.append(value)
        else:
            bad += 1
    return rows, bad


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class UnreadableFile(Exception):
    """A file scoot was told to read that is not a regular file of a sane size (one line)."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(fd: int, limit: int) -> bytes | None:
    """What `fd` holds, read to its end; None when that is more than `limit` bytes.

    At most `limit` + 1 bytes are ever read.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks) if size <= limit else None


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes, or UnreadableFile.

    Opened non-blocking, so a FIFO cannot hang the caller; what the link
    leads to is checked on the open descriptor (a link to /dev/zero is a
    device), and at most `limit` + 1 bytes are ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(f"{path}: is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise UnreadableFile(f"{path}: {st.st_size} bytes is over the {limit} byte limit")
        data = read_bounded(fd, limit)
        if data is None:
            raise UnreadableFile(f"{path}: grows past the {limit} byte limit")
        return data
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
