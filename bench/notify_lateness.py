"""Lateness of due jobs while notifications are pending against a slow receiver.

Run: python bench/notify_lateness.py [--pending 100] [--answer-sec 5] [--seconds 20] [--json]

Two passes of `scoot daemon run` with three quiet jobs (every_sec = 1, no
notifications) and a fourth job, each for --seconds:

- baseline: an empty outbox, and the fourth job notifies nobody;
- loaded:   --pending notifications already in the outbox (left by a process
            that is gone, so the daemon adopts them at its first tick), sent
            to a receiver on loopback that answers each request after
            --answer-sec seconds, and the fourth job notifies on start and
            success (two more notifications a second for the same receiver).

For each pass: the lateness of every quiet run (its runs.jsonl `started_at`
minus its `instant`), as median, p95 and max in ms, and how many pending
notifications were delivered. A loop that waited on a delivery would show it
as seconds of lateness.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoot.notify.outbox import Entry, Outbox  # noqa: E402
from scoot.testing.model_server import ScriptedModel  # noqa: E402


def slow_receiver(answer_sec: float) -> tuple[ThreadingHTTPServer, list[float]]:
    delivered: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(answer_sec)
            delivered.append(time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, delivered


def config(home: Path, model_url: str, hook: str, loaded: bool) -> None:
    lines = [
        "[backend]",
        f'base_url = "{model_url}"',
        'model = "scripted"',
        "retries = 0",
        "[notify.ops]",
        f'url = "{hook}"',
        "timeout_sec = 30",
        "[schedule]",
        "enabled = true",
        "max_concurrent = 8",
    ]
    for index in range(3):
        lines += ["[[schedule.jobs]]", f'id = "quiet{index}"', 'goal = "g"', "every_sec = 1"]
    # The same four jobs in both passes; only the loaded one's fourth notifies.
    lines += ["[[schedule.jobs]]", 'id = "loud"', 'goal = "g"', "every_sec = 1"]
    if loaded:
        lines += ['notify = ["ops"]', 'notify_on = ["start", "success"]']
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def seed_outbox(home: Path, hook: str, count: int) -> None:
    outbox = Outbox(home / "state" / "outbox")
    now = time.time()
    for index in range(count):
        delivery_id = f"d{int(now * 1000):013d}-1-{index:05d}"
        payload = {"format": "scoot.notify.v1", "event": "failure", "delivery_id": delivery_id}
        outbox.write(
            Entry(
                {
                    "delivery_id": delivery_id,
                    "kind": "notify",
                    "event": "failure",
                    "job_id": "old",
                    "run_id": None,
                    "target": "ops",
                    "url": hook,
                    "command": None,
                    "secret_env": None,
                    "timeout_sec": 30,
                    "payload": payload,
                    "created_at": now,
                    "attempts": 0,
                    "next_at": 0,
                    "last_error": None,
                    "owner": "1:0.00",  # pid 1 never started at 0: a process that is gone
                }
            )
        )


def one_pass(loaded: bool, args: argparse.Namespace, model_url: str) -> dict[str, Any]:
    server, delivered = slow_receiver(args.answer_sec)
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        config(home, model_url, hook, loaded)
        if loaded:
            seed_outbox(home, hook, args.pending)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCOOT_")}
        env["SCOOT_HOME"] = str(home)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scoot", "daemon", "run"],
            env=env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(args.seconds)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        rows = [
            json.loads(line)
            for line in (home / "state" / "runs.jsonl").read_text().splitlines()
            if line.strip()
        ]
        left = len(list((home / "state" / "outbox").glob("*.json")))
    server.shutdown()
    late = sorted(
        (r["started_at"] - r["instant"]) * 1000
        for r in rows
        if r["job_id"].startswith("quiet") and r["status"] == "ok"
    )
    return {
        "pass": "loaded" if loaded else "baseline",
        "quiet_runs": len(late),
        "late_median_ms": round(statistics.median(late), 1) if late else None,
        "late_p95_ms": round(late[int(0.95 * (len(late) - 1))], 1) if late else None,
        "late_max_ms": round(late[-1], 1) if late else None,
        "delivered": len(delivered),
        "left_in_outbox": left,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=100)
    parser.add_argument("--answer-sec", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with ScriptedModel({"default": [{"final": "ok"}]}) as model:
        results = [one_pass(False, args, model.base_url), one_pass(True, args, model.base_url)]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"{args.pending} pending, receiver answers in {args.answer_sec:g} s, {args.seconds:g} s per pass"
        )
        for row in results:
            print(
                f"{row['pass']:<9} quiet runs {row['quiet_runs']:>3}  lateness median "
                f"{row['late_median_ms']} ms, p95 {row['late_p95_ms']} ms, max {row['late_max_ms']} ms; "
                f"delivered {row['delivered']}, left {row['left_in_outbox']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
