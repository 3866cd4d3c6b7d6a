"""Each job's memory for the notification rules: its last status and last ok answer's digest.

Kept in state/notify_memory.json under a flock, so processes sharing the
runtime directory judge recoveries and changes against the same last run.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from scoot.notify.events import JobMemory, remember
from scoot.notify.outbox import replace_file


class JobMemories:
    def __init__(self, state: Path, *, write_failed: Callable[[str], None]) -> None:
        self.path = state / "notify_memory.json"
        self._lock_path = state / "notify_memory.lock"
        self._write_failed = write_failed

    def update(self, job_id: str, status: str, answer: Any) -> JobMemory:
        """The job's memory before this run, after saving the one after it."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            memories = read_memories(self.path)
            before = memories.get(job_id, JobMemory())
            memories[job_id] = remember(before, status, answer if isinstance(answer, str) else None)
            self._save(memories)
            return before
        finally:
            os.close(fd)

    def _save(self, memories: dict[str, JobMemory]) -> None:
        shown = {
            k: {"last_status": m.last_status, "last_ok_digest": m.last_ok_digest}
            for k, m in memories.items()
        }
        try:
            # Not fsynced: after a power cut the worst is one recovery or
            # change judged against an older run.
            replace_file(self.path, orjson.dumps(shown) + b"\n", sync=False)
        except OSError as exc:
            self._write_failed(f"cannot write {self.path} ({exc.strerror})")


def read_memories(path: Path) -> dict[str, JobMemory]:
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): JobMemory(v.get("last_status"), v.get("last_ok_digest"))
        for k, v in raw.items()
        if isinstance(v, dict)
    }
