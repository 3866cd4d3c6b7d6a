"""A readonly worker's kernel layer with the gate out of the way, as an
unprivileged user: reads stay in the working directory, and an MPTCP socket
cannot reach a port the TCP rule forbids."""

from __future__ import annotations

import json
import socket
import sys
import textwrap

from tests.hostile.conftest import Attic
from tests.unprivileged import chown_tree, owned_dir, run_as

PROOF = textwrap.dedent(
    """
    import json, os, socket, sys
    from worker import sandbox
    base, home, outside, allowed, forbidden = sys.argv[1:4] + [int(p) for p in sys.argv[4:6]]
    scratch = os.path.join(home, "state", "scratch", "r1")
    os.makedirs(scratch, exist_ok=True)
    reach = sandbox.Reach(cwd=base, scratch_dir=scratch, protected=(home,))
    report = sandbox.apply("readonly", sandbox.Limits(), scratch_dir=scratch,
                           backend_port=allowed, require=True, parent_pid=os.getppid(), reach=reach)
    def attempt(action):
        try:
            action()
        except OSError as error:
            return error.strerror
        return "ok"
    def connect(proto, port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto) as s:
            s.settimeout(3)
            s.connect(("127.0.0.1", port))
    print(json.dumps({
        "report": report.to_dict(),
        "read_cwd": attempt(lambda: open(os.path.join(base, "mine.txt")).read()),
        "read_outside": attempt(lambda: open(os.path.join(outside, "secret.txt")).read()),
        "read_config": attempt(lambda: open(os.path.join(home, "config.toml")).read()),
        "tcp_forbidden": attempt(lambda: connect(0, forbidden)),
        "mptcp_forbidden": attempt(lambda: connect(262, forbidden)),
        "tcp_allowed": attempt(lambda: connect(0, allowed)),
        "netlink": attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)),
    }))
    """
)


def test_readonly_kernel_confines_reads_and_refuses_mptcp(attic: Attic) -> None:
    attic.configure("http://127.0.0.1:9/v1")
    (attic.base / "mine.txt").write_text("in the working directory")
    outside = owned_dir(attic.user, prefix="scoot-hostile-outside-")
    (outside / "secret.txt").write_text("SECRET-OUTSIDE")
    chown_tree(attic.base, attic.user)
    chown_tree(outside, attic.user)
    allowed = socket.create_server(("127.0.0.1", 0))
    forbidden = socket.create_server(("127.0.0.1", 0))
    forbidden.settimeout(0.5)
    try:
        ports = [str(s.getsockname()[1]) for s in (allowed, forbidden)]
        argv = [sys.executable, "-c", PROOF, str(attic.base), str(attic.home), str(outside)]
        done = run_as(attic.user, [*argv, *ports], env=attic.env(), cwd=attic.base)
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        try:
            stray, _ = forbidden.accept()
            stray.close()
            reached = True
        except TimeoutError:
            reached = False
    finally:
        allowed.close()
        forbidden.close()
        import shutil

        shutil.rmtree(outside)
    assert outcome["report"]["restrictions"]["socket_kinds"]["applied"] is True
    assert outcome["report"]["restrictions"]["fs_read"]["applied"] is True
    assert outcome["read_cwd"] == "ok"
    assert outcome["read_outside"] == "Permission denied"
    assert outcome["read_config"] == "Permission denied"
    assert outcome["tcp_allowed"] == "ok"
    assert outcome["tcp_forbidden"] == "Permission denied"
    assert outcome["mptcp_forbidden"] == "Permission denied"
    assert outcome["netlink"] == "Permission denied"
    assert reached is False  # nothing connected to the forbidden port
    assert "SECRET-OUTSIDE" not in done.stdout + done.stderr


def test_readonly_exec_cannot_read_through_a_symlink_out_of_the_working_directory(
    attic: Attic,
) -> None:
    from scoot.testing.model_server import ScriptedModel

    work = attic.base / "work"
    work.mkdir()
    outside = owned_dir(attic.user, prefix="scoot-hostile-outside-")
    secret = outside / "private.txt"
    secret.write_text("SECRET-BEYOND-THE-LINK")
    # Glob characters in the names, the form the gate once left unresolved.
    (work / "notes*.txt").symlink_to(secret)
    (work / "dir[1]").symlink_to(outside)
    (work / "mine.txt").write_text("readable here")
    script = {
        "default": [
            {"action": "file_read", "action_input": "notes*.txt"},
            {"action": "file_read", "action_input": "dir[1]/private.txt"},
            {"action": "grep", "action_input": "SECRET"},
            {"action": "file_read", "action_input": "mine.txt"},
            {"final": "done"},
        ]
    }
    try:
        with ScriptedModel(script) as model:
            attic.configure(model.base_url, schedule={"enabled": False})
            chown_tree(outside, attic.user)
            done = attic.scoot("--policy", "readonly", "-e", "read the notes", cwd=work)
        records = attic.every_file_text()
    finally:
        import shutil

        shutil.rmtree(outside)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert "readable here" in records  # the working directory itself stays readable
    for text in (done.stdout, done.stderr, records):
        assert "SECRET-BEYOND-THE-LINK" not in text
    events = [json.loads(line) for line in (attic.home / "logs" / "audit.jsonl").open()]
    refusals = [
        e for e in events
        if e["kind"] == "policy_deny"
        or (e["kind"] == "observation" and "ermission denied" in json.dumps(e))
    ]  # fmt: skip
    assert len(refusals) >= 2, [e for e in events if e["kind"] == "observation"]
