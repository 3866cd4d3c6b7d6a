"""Rotation of the audit log and session files: no split line, no lost event, gaps recorded."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.retention import gaps_path_for, generation
from tests.helpers import read_jsonl, run_scoot, write_config


def all_audit_rows(path: Path, keep: int) -> list[dict]:
    rows = []
    for number in range(keep, 0, -1):
        rows += read_jsonl(generation(path, number))
    return rows + read_jsonl(path)


def accounted_seqs(path: Path, keep: int) -> list[int]:
    """Every seq either still on disk or inside a recorded evicted range."""
    seqs = [r["seq"] for r in all_audit_rows(path, keep)]
    for gap in read_jsonl(gaps_path_for(path)):
        if gap["stream"] == "audit":
            seqs += list(range(gap["first_seq"], gap["last_seq"] + 1))
    return sorted(seqs)


def test_audit_rotates_keeps_generations_and_records_evictions(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, Redactor(), max_bytes=4096, keep=3)
    for number in range(500):
        log.event("thought", f"event {number} " + "x" * 40, session_id="s", run_id="r")
    log.close()
    assert [generation(path, n).exists() for n in (1, 2, 3, 4)] == [True, True, True, False]
    assert all(p.stat().st_size <= 4096 for p in [path, *(generation(path, n) for n in (1, 2, 3))])
    gaps = read_jsonl(gaps_path_for(path))
    assert gaps and all(g["lines"] > 0 and g["first_seq"] <= g["last_seq"] for g in gaps)
    assert accounted_seqs(path, 3) == list(range(1, 501))


def test_concurrent_writers_across_rotation_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writers, per_writer = 4, 300
    children = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                log = AuditLog(path, Redactor(), max_bytes=8192, keep=1000)
                for number in range(per_writer):
                    log.event("thought", f"w{writer} n{number} " + "y" * 60)
                log.close()
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    rows = all_audit_rows(path, 1000)  # every line of every generation parses
    assert len(rows) == writers * per_writer
    assert sorted(r["seq"] for r in rows) == list(range(1, writers * per_writer + 1))
    for writer in range(writers):
        mine = [int(r["msg"].split()[1][1:]) for r in rows if r["msg"].startswith(f"w{writer} ")]
        assert sorted(mine) == list(range(per_writer))


def test_sessions_rotate_with_gaps_recorded(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    gaps = tmp_path / "audit.jsonl.gaps.jsonl"
    log = SessionLog(sessions, Redactor(), max_bytes=2048, keep=2, gaps=gaps)
    for number in range(200):
        assert log.append("job-a", "r1", "assistant", f"message {number} " + "z" * 30)
    files = sorted(p.name for p in sessions.glob("job-a.jsonl*"))
    assert files == ["job-a.jsonl", "job-a.jsonl.1", "job-a.jsonl.2"]
    evicted = read_jsonl(gaps)
    assert evicted and all(g["stream"] == "session:job-a" for g in evicted)
    kept = sum(len(read_jsonl(sessions / name)) for name in files)
    assert kept + sum(g["lines"] for g in evicted) == 200


def test_a_write_cut_short_by_the_file_size_limit_leaves_no_half_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            errors: list[str] = []
            log = AuditLog(path, Redactor(), on_error=errors.append)
            log.event("thought", "fits")
            limit = path.stat().st_size + 50
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            log.event("thought", "w" * 400)  # only part of it could be written
            log.close()
            os.write(write_end, ("|".join(errors)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    reported = os.read(read_end, 4096).decode()
    assert os.waitstatus_to_exitcode(status) == 0
    assert "cannot write audit log" in reported
    rows = read_jsonl(path)  # parses: the partial line was cut back
    assert [r["msg"] for r in rows] == ["fits"]


def test_doctor_warns_when_a_gap_exists(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    run_scoot(home, "config")
    gaps = gaps_path_for(home / "logs" / "audit.jsonl")
    gaps.write_text(
        '{"stream": "audit", "file": "audit.jsonl.5", "lines": 10, "first_seq": 1, "last_seq": 10}\n'
    )
    done = run_scoot(home, "doctor")
    assert "evicted" in done.stdout
