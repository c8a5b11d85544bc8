"""Hub load: many operators publishing live calls while a supervisor watches.

    .venv/bin/python benchmarks/hub_load.py [--operators 50] [--seconds 60]

Starts ``calmline hub`` in a subprocess on a free loopback port with a fresh
database (users made with ``calmline hub user add``), then runs, in this
process, N simulated operators (one call each, on /ws/publish, with the hub's
JSON messages and acks, up to 256 unacked as HubPublisher does) and one
supervisor on /ws/dashboard.  Per call per second: ~10 customer ``level``
events, a customer ``speech_start``/``speech_end`` pair, an utterance every ~3 s,
and now and then a trigger, a state change and a prompt (the operator's own
level readings stay on their PC, as in a real call).

Prints: ingest-to-dashboard latency (now - ingested_ms for each ``call``
message the supervisor gets; it includes the hub's 100 ms coalescing window),
events ingested per second, acked vs sent (and stored, counted in the database
afterwards), and the hub process's CPU (utime+stime from /proc over the
publishing window, as % of one core) and peak RSS (VmHWM).  The load generator
runs on the same machine and competes for its cores; its own CPU is printed too.
Bounded: at most 500 operators and 600 seconds.  Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from _hub import calmline_cmd, pct, proc_cpu_s, proc_status_kb, running_hub  # noqa: E402
from monitor.events import make_event  # noqa: E402

WINDOW = 256                      # unacked messages in flight per publisher, as HubPublisher
CUSTOMER_LINES = [
    "I have been waiting three weeks for this refund",
    "nobody ever calls me back when they say they will",
    "can you just tell me where my money is",
    "this is the third time I am explaining the same thing",
    "I want to speak to your manager right now",
    "fine, but I want that in writing",
]
OPERATOR_LINES = [
    "I understand, let me look at your account",
    "I am sorry this has taken so long",
    "here is what I will do for you today",
    "I will send you a confirmation by email",
]
TRIGGERS = [("legal_threat", "en.legal.court", "take you to court"),
            ("manager_request", "en.manager.speak", "speak to your manager"),
            ("abuse", "en.abuse.useless", "useless"),
            ("empathy", "en.empathy.understand", "I understand")]
LEVELS = ["calm", "tense", "escalated", "calm"]


def add_user(db: Path, name: str, role: str) -> str:
    out = subprocess.run(calmline_cmd() + ["hub", "user", "add", name, "--role", role, "--db", str(db)],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[-1]


class Operator:
    """One simulated operator's monitor publishing one call."""

    def __init__(self, url: str, token: str, call_id: str, seconds: float, rng: random.Random) -> None:
        self.url, self.token, self.call_id = url, token, call_id
        self.seconds = seconds
        self.rng = rng
        self.seq = 0
        self.sent = self.acked = self.errors = 0
        self.by_type: dict[str, int] = {}
        self.window = asyncio.Semaphore(WINDOW)
        self.all_acked = asyncio.Event()
        self.done_sending = False

    def message(self, etype: str, t: float, wall: float, speaker: str | None = None, **data) -> str:
        event = make_event(etype, call_id=self.call_id, seq=self.seq, t=t, wall=wall, speaker=speaker, **data)
        self.seq += 1
        self.by_type[etype] = self.by_type.get(etype, 0) + 1
        return json.dumps({"kind": "event", "call_id": self.call_id, "event": event.to_dict()},
                          ensure_ascii=False, separators=(",", ":"))

    async def run(self, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        async with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                           open_timeout=10, ping_interval=10, max_size=8 * 1024 * 1024) as ws:
            reader = asyncio.create_task(self.read(ws))
            try:
                await asyncio.wait_for(self.publish(ws), timeout=self.seconds + 30)   # bounded
                self.done_sending = True
                if self.acked >= self.sent:
                    self.all_acked.set()
                try:
                    await asyncio.wait_for(self.all_acked.wait(), timeout=15)
                except asyncio.TimeoutError:
                    pass
            finally:
                reader.cancel()

    async def read(self, ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("kind") == "ack":
                self.acked += 1
                self.window.release()
                if self.done_sending and self.acked >= self.sent:
                    self.all_acked.set()
            elif msg.get("kind") == "error":
                self.errors += 1
                self.window.release()

    async def send(self, ws, line: str) -> None:
        await self.window.acquire()
        await ws.send(line)
        self.sent += 1

    async def publish(self, ws) -> None:
        rng = self.rng
        t0 = time.monotonic()
        await self.send(ws, self.message("call_start", 0.0, 0.0, source="sip:load", sample_rate=16000,
                                         input_rate=8000, channels=2, speakers=["operator", "customer"]))
        tick = 0
        baseline = -26.0
        next_utt = rng.uniform(1.0, 3.0)
        next_event = rng.uniform(8.0, 25.0)
        level_i = 0
        speaking = False
        while True:
            tick += 1
            due = t0 + tick * 0.1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            t = tick * 0.1
            if t > self.seconds:
                break
            wall = time.monotonic() - t0
            db = baseline + rng.gauss(6.0, 4.0)
            await self.send(ws, self.message("level", t, wall, "customer", dbfs=round(db, 1),
                                             short_term_dbfs=round(db - 1.0, 1), baseline_dbfs=baseline))
            if tick % 10 == 0:                       # one customer speech start and end a second
                await self.send(ws, self.message("speech_start", t, wall, "customer"))
                speaking = True
            elif tick % 10 == 7 and speaking:
                await self.send(ws, self.message("speech_end", t - 0.7, wall, "customer", t_end=t))
                speaking = False
            if t >= next_utt:
                who = rng.choice(("customer", "customer", "operator"))
                text = rng.choice(CUSTOMER_LINES if who == "customer" else OPERATOR_LINES)
                await self.send(ws, self.message("utterance", t - 2.5, wall, who, t_end=t, text=text,
                                                 language="en", avg_logprob=-0.3, no_speech_prob=0.02))
                next_utt = t + rng.uniform(2.0, 4.0)
            if t >= next_event:                      # a trigger, a state change, a prompt
                category, tid, words = rng.choice(TRIGGERS)
                await self.send(ws, self.message("trigger", t - 1.0, wall, "customer", category=category,
                                                 id=tid, text=words, span=[0, len(words)], partial=False,
                                                 t_detected=t, language="en"))
                previous = LEVELS[level_i % len(LEVELS)]
                level_i += 1
                level = LEVELS[level_i % len(LEVELS)]
                await self.send(ws, self.message("state", t, wall, level=level, previous=previous,
                                                 reason=category, score=round(rng.uniform(0.5, 5.0), 2)))
                await self.send(ws, self.message(
                    "prompt", t, wall, "operator", id=f"plan.{category}@{t:.2f}", prompt=f"plan.{category}",
                    kind="plan", priority=70, title="Acknowledge, then say what you will do",
                    body="Name the feeling, then give one concrete next step.",
                    why={"cue": category, "t": t, "quote": words}, ttl=15.0, language="en"))
                next_event = t + rng.uniform(10.0, 25.0)
        end = time.monotonic() - t0
        await self.send(ws, self.message("call_end", self.seconds, end, duration=self.seconds))
        await self.send(ws, self.message("summary", self.seconds, end, duration=self.seconds,
                                         speakers={}, overlaps=0, overlap_s=0.0, silences=0,
                                         silence_s=0.0, complete=True))


class Supervisor:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.latency_ms: list[float] = []
        self.send_to_recv_ms: list[float] = []
        self.messages = 0
        self.ready = asyncio.Event()
        self.measuring = False

    async def run(self, stop: asyncio.Event) -> None:
        async with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                           open_timeout=10, ping_interval=10, max_size=64 * 1024 * 1024) as ws:
            reader = asyncio.create_task(self.read(ws))
            await stop.wait()
            reader.cancel()

    async def read(self, ws) -> None:
        async for raw in ws:
            now_ms = time.time() * 1000.0
            msg = json.loads(raw)
            if msg.get("kind") == "calls":
                self.ready.set()
            elif msg.get("kind") == "update" and self.measuring:   # newest state per changed call
                for change in msg["changes"]:
                    self.messages += 1
                    self.latency_ms.append(now_ms - change["ingested_ms"])
                    self.send_to_recv_ms.append(now_ms - msg["sent_ms"])


async def drive(port: int, tokens: list[str], sup_token: str, operators: int, seconds: float,
                hub_pid: int, seed: int) -> dict:
    base = f"ws://127.0.0.1:{port}"
    supervisor = Supervisor(f"{base}/ws/dashboard", sup_token)
    stop = asyncio.Event()
    sup_task = asyncio.create_task(supervisor.run(stop))
    await asyncio.wait_for(supervisor.ready.wait(), timeout=15)
    rng = random.Random(seed)
    ops = [Operator(f"{base}/ws/publish", tokens[i % len(tokens)], f"load-{i:03d}", seconds,
                    random.Random(rng.random())) for i in range(operators)]
    supervisor.measuring = True
    cpu0, wall0 = proc_cpu_s(hub_pid), time.monotonic()
    me0 = os.times()
    start = time.monotonic() + 0.2
    # operators start spread over the first second, as calls do not all start at once
    results = await asyncio.gather(*(op.run(start + rng.uniform(0.0, 1.0)) for op in ops),
                                   return_exceptions=True)
    wall = time.monotonic() - wall0
    cpu = proc_cpu_s(hub_pid) - cpu0
    me1 = os.times()
    await asyncio.sleep(0.3)                           # the last coalesced dashboard flush
    supervisor.measuring = False
    stop.set()
    await sup_task
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    by_type: dict[str, int] = {}
    for op in ops:
        for k, v in op.by_type.items():
            by_type[k] = by_type.get(k, 0) + v
    return {
        "operators": operators, "seconds": seconds, "wall_s": wall,
        "sent": sum(op.sent for op in ops), "acked": sum(op.acked for op in ops),
        "errors": sum(op.errors for op in ops), "failures": failures, "by_type": by_type,
        "hub_cpu_s": cpu, "hub_cpu_pct": 100.0 * cpu / wall,
        "gen_cpu_pct": 100.0 * ((me1.user - me0.user) + (me1.system - me0.system)) / wall,
        "dashboard_messages": supervisor.messages,
        "latency_ms": supervisor.latency_ms, "send_to_recv_ms": supervisor.send_to_recv_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--operators", type=int, default=50, help="simulated operators, one call each (1-500)")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long each call publishes (1-600)")
    ap.add_argument("--operator-users", type=int, default=5,
                    help="operator accounts the calls share (tokens are made with `calmline hub user add`)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary database and hub log")
    args = ap.parse_args()
    if not 1 <= args.operators <= 500:
        ap.error("--operators must be 1..500")
    if not 1 <= args.seconds <= 600:
        ap.error("--seconds must be 1..600")
    users = max(1, min(args.operator_users, args.operators))

    work = Path(tempfile.mkdtemp(prefix="calmline-hub-load-"))
    db = work / "hub.sqlite3"
    sup_token = add_user(db, "supervisor1", "supervisor")
    tokens = [add_user(db, f"op{i + 1:02d}", "operator") for i in range(users)]
    with running_hub(db, work / "hub.log") as hub:
        rss_start_kb = proc_status_kb(hub.proc.pid, "VmRSS")
        load_before = os.getloadavg()[0]
        r = asyncio.run(drive(hub.port, tokens, sup_token, args.operators, args.seconds, hub.proc.pid,
                              args.seed))
        peak_rss_kb = proc_status_kb(hub.proc.pid, "VmHWM")
        load_after = os.getloadavg()[0]
    with sqlite3.connect(str(db)) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    lat, net = r["latency_ms"], r["send_to_recv_ms"]
    print(f"hub load: {args.operators} operators x {args.seconds:g} s ({users} operator accounts), "
          f"one supervisor dashboard; loopback, {os.cpu_count()} CPUs shared with the load generator")
    print(f"events sent {r['sent']}, acked {r['acked']} ({r['sent'] - r['acked']} unacked), "
          f"stored {stored} in {calls} calls; hub errors {r['errors']}; client failures {len(r['failures'])}")
    types = ", ".join(f"{k} {v}" for k, v in sorted(r["by_type"].items(), key=lambda kv: -kv[1]))
    print(f"  by type: {types}")
    print(f"ingested: {r['acked'] / r['wall_s']:.0f} events/s over {r['wall_s']:.1f} s "
          f"({r['acked'] / r['wall_s'] / max(1, args.operators):.1f} per call per second)")
    print(f"ingest -> dashboard latency over {len(lat)} call updates: p50 {pct(lat, 50):.0f} ms, "
          f"p95 {pct(lat, 95):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat, default=float('nan')):.0f} ms "
          f"(includes up to 100 ms of the hub's coalescing)")
    if net:
        print(f"  of which hub send -> supervisor receive: p50 {pct(net, 50):.1f} ms, p95 {pct(net, 95):.1f} ms")
    print(f"hub CPU: {r['hub_cpu_s']:.1f} s over {r['wall_s']:.1f} s = {r['hub_cpu_pct']:.0f}% of one core; "
          f"RSS {rss_start_kb / 1024:.0f} MiB at start, peak {peak_rss_kb / 1024:.0f} MiB")
    print(f"load generator CPU: {r['gen_cpu_pct']:.0f}% of one core; machine load average (1 min) "
          f"{load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs "
          f"(other work on the machine inflates the latency tail)")
    if r["failures"]:
        print("client failures:", *r["failures"][:5], sep="\n  ")
    print(f"reproduce: .venv/bin/python benchmarks/hub_load.py --operators {args.operators} "
          f"--seconds {args.seconds:g}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if r["failures"] or r["sent"] != r["acked"] or stored != r["acked"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
