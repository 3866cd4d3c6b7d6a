"""A guarded run started in the directory that holds the runtime directory
cannot read or change the daemon's config, through the CLI or with the gate
out of the way; with confine_writes its writes stay in the working directory,
scratch and its private tmp. Run as an unprivileged user."""

from __future__ import annotations

import json
import sys
import textwrap

from scoot.testing.model_server import ScriptedModel
from tests.hostile.conftest import Attic
from tests.unprivileged import owned_dir, run_as

MARK = "SECRET-MARK-7f3a1c"


def config_with_mark(attic: Attic, base_url: str, **sections: dict) -> str:
    path = attic.configure(base_url, schedule={"enabled": False}, sections=sections or None)
    path.write_text(path.read_text() + f"# {MARK}\n")
    return path.read_text()


def test_guarded_exec_in_the_parent_of_the_runtime_dir_cannot_touch_its_config(
    attic: Attic,
) -> None:
    # Spelled so that no word of the command names the runtime directory.
    attack = (
        "d=.sc; d=${d}oot; cat $d/config.toml; cp $d/config.toml copied.txt; "
        'printf \'[[schedule.jobs]]\\nid="evil"\\ngoal="x"\\nmode="unrestricted"\\n\' '
        ">> $d/config.toml; mv $d moved; echo wrote-status=$?"
    )
    script = {"default": [{"action": "bash", "action_input": attack}, {"final": "done"}]}
    with ScriptedModel(script) as model:
        before = config_with_mark(attic, model.base_url)
        done = attic.scoot("--policy", "guarded", "-e", "tidy up")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert (attic.home / "config.toml").read_text() == before
    assert not (attic.base / "copied.txt").exists()
    assert not (attic.base / "moved").exists()
    for text in (done.stdout, done.stderr, attic.every_file_text().replace(before, "")):
        assert MARK not in text
    events = [json.loads(line) for line in (attic.home / "logs" / "audit.jsonl").open()]
    sandbox = next(e for e in events if e["kind"] == "sandbox")
    assert sandbox["sandbox"]["restrictions"]["runtime_dir"]["applied"] is True
    # Each refusal is on record: the kernel's answer in the observation, or the gate's deny.
    refusals = [
        e for e in events
        if e["kind"] == "policy_deny"
        or (e["kind"] == "observation" and "Permission denied" in json.dumps(e))
    ]  # fmt: skip
    assert refusals, [e for e in events if e["kind"] == "observation"]


PROOF = textwrap.dedent(
    """
    import json, os, sys
    from worker import sandbox
    base, home, outside, confine = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    scratch = os.path.join(home, "state", "scratch", "r1")
    os.makedirs(os.path.join(scratch, "tmp"), exist_ok=True)
    reach = sandbox.Reach(
        cwd=base, scratch_dir=scratch, private_tmp=os.path.join(scratch, "tmp"),
        protected=(home, os.path.join(home, "config.toml")), confine_writes=confine,
    )
    report = sandbox.apply("guarded", sandbox.Limits(), scratch_dir=scratch, backend_port=None,
                           require=True, parent_pid=os.getppid(), reach=reach)
    def attempt(action):
        try:
            action()
        except OSError as error:
            return error.strerror
        return "ok"
    def write(path, mode="a"):
        with open(path, mode) as handle:
            handle.write("x")
    cfg = os.path.join(home, "config.toml")
    print(json.dumps({
        "landlock": report.landlock,
        "read_config": attempt(lambda: open(cfg).read()),
        "append_config": attempt(lambda: write(cfg)),
        "new_file_in_home": attempt(lambda: write(os.path.join(home, "config.json"), "w")),
        "rename_home": attempt(lambda: os.rename(home, os.path.join(base, "moved"))),
        "unlink_config": attempt(lambda: os.unlink(cfg)),
        "write_cwd_subdir": attempt(lambda: write(os.path.join(base, "sub", "f.txt"), "w")),
        "write_tmp": attempt(lambda: write(os.path.join(scratch, "tmp", "t"), "w")),
        "write_outside": attempt(lambda: write(os.path.join(outside, "victim"), "w")),
        "read_outside": attempt(lambda: open(os.path.join(outside, "readable")).read()),
    }))
    """
)


def run_proof(attic: Attic, confine: bool) -> dict[str, str]:
    attic.configure("http://127.0.0.1:9/v1")
    (attic.home / "config.toml").write_text(f"# {MARK}\n")
    (attic.base / "sub").mkdir()
    outside = owned_dir(attic.user, prefix="scoot-hostile-outside-")
    (outside / "readable").write_text("public")
    from tests.unprivileged import chown_tree

    chown_tree(attic.base, attic.user)
    chown_tree(outside, attic.user)
    argv = [sys.executable, "-c", PROOF, str(attic.base), str(attic.home), str(outside)]
    done = run_as(attic.user, [*argv, "1" if confine else "0"], env=attic.env(), cwd=attic.base)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    outcome["victim_exists"] = str((outside / "victim").exists())
    import shutil

    shutil.rmtree(outside)
    return outcome


def test_guarded_ruleset_keeps_the_runtime_dir_out_even_with_the_gate_bypassed(
    attic: Attic,
) -> None:
    outcome = run_proof(attic, confine=False)
    assert outcome["landlock"] == "enforced"
    for key in ("read_config", "append_config", "new_file_in_home", "rename_home"):
        assert outcome[key] == "Permission denied", (key, outcome)
    assert outcome["unlink_config"] == "Permission denied"
    assert (attic.home / "config.toml").read_text() == f"# {MARK}\n"
    assert not (attic.home / "config.json").exists()
    # Without confine_writes the rest of the machine stays writable and readable.
    assert outcome["write_outside"] == "ok" and outcome["read_outside"] == "ok"


def test_confine_writes_keeps_writes_in_cwd_scratch_and_private_tmp(attic: Attic) -> None:
    outcome = run_proof(attic, confine=True)
    assert outcome["write_cwd_subdir"] == "ok"
    assert outcome["write_tmp"] == "ok"
    assert outcome["write_outside"] == "Permission denied"
    assert outcome["victim_exists"] == "False"
    assert outcome["read_outside"] == "ok"  # guarded reads are not confined
    assert outcome["read_config"] == "Permission denied"


def test_guarded_exec_with_confine_writes_cannot_write_outside(attic: Attic) -> None:
    outside = owned_dir(attic.user, prefix="scoot-hostile-outside-")
    try:
        # The path is built at run time, so only the kernel sees where it leads.
        attack = (
            f"o={str(outside)[:-3]}; o=$o{str(outside)[-3:]}; echo pwned > $o/victim; "
            'echo fine > "$TMPDIR/t" && cat "$TMPDIR/t"'
        )
        script = {"default": [{"action": "bash", "action_input": attack}, {"final": "done"}]}
        with ScriptedModel(script) as model:
            config_with_mark(attic, model.base_url, tools={"confine_writes": True})
            done = attic.scoot("--policy", "guarded", "-e", "write things")
        assert done.returncode == 0, done.stderr
        assert not (outside / "victim").exists()
        sessions = "".join(p.read_text() for p in (attic.home / "state" / "sessions").iterdir())
        assert "fine" in sessions  # the private tmp is writable
        assert "Permission denied" in sessions or "denied" in sessions
    finally:
        import shutil

        shutil.rmtree(outside, ignore_errors=True)
