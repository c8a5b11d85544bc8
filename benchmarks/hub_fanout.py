"""Dashboard fan-out: how fresh every supervisor's dashboard stays under load.

    .venv/bin/python benchmarks/hub_fanout.py [--seconds 20] [--calls 300] [--rate 1000] [--dashboards 20]

Two scenarios, each against its own ``calmline hub`` subprocess (fresh
database, one operator account per call, made with ``monitor.hub.auth``):

- baseline: 30 calls publishing 100 events/s in all, 1 dashboard;
- load: ``--calls`` calls publishing ``--rate`` events/s in all (each call on
  its own /ws/publish socket, acked, up to 256 unacked as HubPublisher does),
  ``--dashboards`` supervisors on /ws/dashboard.

Events per call: the customer's level readings, an utterance every 8th event,
a trigger and a state change every 40th (what a real call sends most).

Printed per scenario:

- lag p50/p95/max: ``received - ingested_ms`` for every call state a dashboard
  received (how stale that dashboard was for that call; it includes the hub's
  100 ms coalescing window);
- delivered share: of the events the hub acked, the share whose call state
  reached each dashboard (``rev``, the hub's change counter per call, says how
  many of a call's events a state includes), by the end of the run and within
  1 s of the event being *sent* (operator to supervisor, queueing included);
- event send -> shown on the dashboard: p50/p95;
- hub CPU (% of one core) and this load generator's CPU, on the same machine.

Exit status 1 if the load scenario's lag p95 is over 1 s or an event was lost.
Bounded: at most 1000 calls, 5000 events/s, 50 dashboards, 120 s.  Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from _hub import pct, proc_cpu_s, running_hub  # noqa: E402
from monitor.events import make_event  # noqa: E402
from monitor.hub.auth import add_user  # noqa: E402
from monitor.hub.store import Store  # noqa: E402

WINDOW = 256
LINES = ["I have been waiting three weeks for this refund", "can you just tell me where my money is",
         "I understand, let me look at your account", "I want to speak to your manager right now"]
LEVELS = ["calm", "tense", "escalated", "calm"]


@dataclass
class Call:
    """One operator publishing one call: send time of each acked event, in order."""
    call_id: str
    token: str
    sent_ms: list[float] = field(default_factory=list)
    acked: int = 0
    refused: int = 0

    def message(self, seq: int, t: float) -> str:
        cid = self.call_id
        if seq % 40 == 39:
            e = make_event("state", call_id=cid, seq=seq, t=t, wall=t, level=LEVELS[(seq // 40) % 4],
                           previous=LEVELS[(seq // 40 - 1) % 4], reason="manager_request", score=2.5)
        elif seq % 40 == 38:
            e = make_event("trigger", call_id=cid, seq=seq, t=t, wall=t, speaker="customer",
                           category="manager_request", id="en.manager.speak", text="speak to your manager",
                           span=[0, 21], partial=False, t_detected=t, language="en")
        elif seq % 8 == 7:
            e = make_event("utterance", call_id=cid, seq=seq, t=max(0.0, t - 2.0), wall=t, speaker="customer",
                           t_end=t, text=LINES[seq % len(LINES)], language="en", avg_logprob=-0.3,
                           no_speech_prob=0.02)
        else:
            e = make_event("level", call_id=cid, seq=seq, t=t, wall=t, speaker="customer",
                           dbfs=-20.0 - seq % 7, short_term_dbfs=-21.0, baseline_dbfs=-26.0)
        return json.dumps({"kind": "event", "call_id": cid, "event": e.to_dict()}, separators=(",", ":"))

    async def run(self, url: str, interval: float, seconds: float, phase: float, start: "Start") -> None:
        async with connect(url, additional_headers={"Authorization": f"Bearer {self.token}"},
                           open_timeout=60, ping_interval=None, max_size=1 << 22) as ws:
            window = asyncio.Semaphore(WINDOW)
            t0 = await start.ready()                  # every call connected: all start together

            async def read() -> None:
                async for raw in ws:
                    reply = json.loads(raw)
                    if reply.get("kind") == "ack":
                        if reply.get("refused"):
                            self.refused += 1
                        else:
                            self.acked += 1
                        window.release()

            reader = asyncio.create_task(read())
            seq = 0
            while True:
                due = t0 + phase + seq * interval
                if due - t0 > seconds:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await window.acquire()
                self.sent_ms.append(time.time() * 1000.0)
                await ws.send(self.message(seq, seq * interval))
                seq += 1
            deadline = time.monotonic() + 30
            while self.acked + self.refused < seq and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            reader.cancel()


class Start:
    """A barrier: publishing starts once every call's socket is open."""

    def __init__(self, n: int) -> None:
        self.n, self.t0 = n, 0.0
        self.event = asyncio.Event()

    async def ready(self) -> float:
        self.n -= 1
        if self.n == 0:
            self.t0 = time.monotonic() + 0.2
            self.event.set()
        await self.event.wait()
        return self.t0


class Dashboard:
    def __init__(self) -> None:
        self.lag_ms: list[float] = []
        self.hub_ms: list[float] = []                                # sent_ms - ingested_ms: in the hub
        self.wire_ms: list[float] = []                               # received - sent_ms: socket + this client
        self.shown: dict[str, tuple[list[float], list[int]]] = {}   # call -> (received ms, rev)
        self.ready = asyncio.Event()

    async def run(self, url: str, token: str, stop: asyncio.Event) -> None:
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                           open_timeout=20, ping_interval=None, max_size=1 << 26) as ws:
            reader = asyncio.create_task(self.read(ws))
            await stop.wait()
            reader.cancel()

    async def read(self, ws) -> None:
        async for raw in ws:
            now = time.time() * 1000.0
            msg = json.loads(raw)
            if msg.get("kind") == "calls":
                self.ready.set()
            elif msg.get("kind") == "update":
                self.wire_ms.append(now - msg["sent_ms"])
                for change in msg["changes"]:
                    self.lag_ms.append(now - change["ingested_ms"])
                    self.hub_ms.append(msg["sent_ms"] - change["ingested_ms"])
                    times, revs = self.shown.setdefault(change["call"]["id"], ([], []))
                    times.append(now)
                    revs.append(change["rev"])


def coverage(calls: list[Call], boards: list[Dashboard]) -> tuple[float, float, list[float]]:
    """(share shown by the end, share shown within 1 s of sending, send->shown ms of each)."""
    total = shown = fast = 0
    delays: list[float] = []
    for board in boards:
        for call in calls:
            times, revs = board.shown.get(call.call_id, ([], []))
            best = list(revs)                     # revs only grow on one socket; be safe anyway
            for i in range(1, len(best)):
                best[i] = max(best[i], best[i - 1])
            for k in range(1, call.acked + 1):    # the k-th stored event is in every state with rev >= k
                total += 1
                i = bisect.bisect_left(best, k)
                if i < len(best):
                    shown += 1
                    delay = times[i] - call.sent_ms[k - 1]
                    delays.append(delay)
                    fast += delay <= 1000.0
    return (shown / total if total else float("nan"), fast / total if total else float("nan"), delays)


async def drive(port: int, calls: list[Call], sup_token: str, rate: float, boards_n: int,
                seconds: float, hub_pid: int) -> dict:
    base = f"ws://127.0.0.1:{port}"
    boards = [Dashboard() for _ in range(boards_n)]
    stop = asyncio.Event()
    board_tasks = [asyncio.create_task(b.run(f"{base}/ws/dashboard", sup_token, stop)) for b in boards]
    await asyncio.wait_for(asyncio.gather(*(b.ready.wait() for b in boards)), timeout=30)
    interval = len(calls) / rate
    rng = random.Random(7)
    start = Start(len(calls))
    tasks = [asyncio.create_task(c.run(f"{base}/ws/publish", interval, seconds, rng.uniform(0.0, interval),
                                       start)) for c in calls]
    await asyncio.wait_for(start.event.wait(), timeout=120)
    for b in boards:                                  # measure from the start of publishing
        b.lag_ms.clear()
        b.hub_ms.clear()
        b.wire_ms.clear()
    cpu0, me0, wall0 = proc_cpu_s(hub_pid), os.times(), time.monotonic()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.monotonic() - wall0
    cpu, me1 = proc_cpu_s(hub_pid) - cpu0, os.times()
    await asyncio.sleep(1.5)                          # the last flushes reach every dashboard
    stop.set()
    await asyncio.gather(*board_tasks, return_exceptions=True)
    share_end, share_1s, delays = coverage(calls, boards)
    lags = [x for b in boards for x in b.lag_ms]
    hub_ms = [x for b in boards for x in b.hub_ms]
    wire_ms = [x for b in boards for x in b.wire_ms]
    return {"failures": [repr(r) for r in results if isinstance(r, BaseException)],
            "sent": sum(len(c.sent_ms) for c in calls), "acked": sum(c.acked for c in calls),
            "refused": sum(c.refused for c in calls), "wall_s": wall,
            "hub_cpu_pct": 100.0 * cpu / wall,
            "gen_cpu_pct": 100.0 * ((me1.user - me0.user) + (me1.system - me0.system)) / wall,
            "states": len(lags), "lag_p50": pct(lags, 50), "lag_p95": pct(lags, 95),
            "lag_max": max(lags, default=float("nan")), "share_end": share_end, "share_1s": share_1s,
            "hub_p95": pct(hub_ms, 95), "wire_p95": pct(wire_ms, 95), "messages": len(wire_ms),
            "shown_p50": pct(delays, 50), "shown_p95": pct(delays, 95)}


def scenario(name: str, calls_n: int, rate: float, boards_n: int, seconds: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="calmline-hub-fanout-"))
    db = work / "hub.sqlite3"
    store = Store(db)
    sup_token = add_user(store, "supervisor1", "supervisor")
    calls = [Call(f"fan-{i:04d}", add_user(store, f"op{i:04d}", "operator")) for i in range(calls_n)]
    store.close()
    try:
        with running_hub(db, work / "hub.log") as hub:
            r = asyncio.run(drive(hub.port, calls, sup_token, rate, boards_n, seconds, hub.proc.pid))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r.update(name=name, calls=calls_n, rate=rate, dashboards=boards_n, seconds=seconds)
    return r


def report(r: dict) -> None:
    print(f"{r['name']}: {r['calls']} calls at {r['rate']:g} events/s, {r['dashboards']} dashboard(s), "
          f"{r['seconds']:g} s")
    print(f"  events sent {r['sent']}, acked {r['acked']}, refused {r['refused']}, "
          f"client failures {len(r['failures'])}; ingested {r['acked'] / r['wall_s']:.0f}/s")
    print(f"  dashboard lag (received - ingested) over {r['states']} call states: p50 {r['lag_p50']:.0f} ms, "
          f"p95 {r['lag_p95']:.0f} ms, max {r['lag_max']:.0f} ms")
    print(f"    of which in the hub (sent_ms - ingested_ms) p95 {r['hub_p95']:.0f} ms; socket and this client "
          f"(received - sent_ms) p95 {r['wire_p95']:.0f} ms over {r['messages']} messages")
    print(f"  delivered share: {100 * r['share_end']:.1f}% of acked events reached every dashboard by the end, "
          f"{100 * r['share_1s']:.1f}% within 1 s of being sent")
    print(f"  event sent -> shown: p50 {r['shown_p50']:.0f} ms, p95 {r['shown_p95']:.0f} ms")
    print(f"  hub CPU {r['hub_cpu_pct']:.0f}% of one core; load generator {r['gen_cpu_pct']:.0f}% "
          f"(same machine, {os.cpu_count()} CPUs)")
    for failure in r["failures"][:3]:
        print(f"  client failure: {failure}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="publishing time per scenario (1-120)")
    ap.add_argument("--calls", type=int, default=300, help="calls in the load scenario (1-1000)")
    ap.add_argument("--rate", type=float, default=1000.0, help="events/s, all calls together (1-5000)")
    ap.add_argument("--dashboards", type=int, default=20, help="supervisor dashboards (1-50)")
    args = ap.parse_args()
    if not (1 <= args.seconds <= 120 and 1 <= args.calls <= 1000 and 1 <= args.rate <= 5000
            and 1 <= args.dashboards <= 50):
        ap.error("out of range: --seconds 1-120, --calls 1-1000, --rate 1-5000, --dashboards 1-50")
    print(f"hub fan-out, loopback, {os.cpu_count()} CPUs shared by the hub and this load generator; "
          f"load average {os.getloadavg()[0]:.1f}")
    base = scenario("baseline", 30, 100.0, 1, args.seconds)
    report(base)
    load = scenario("load", args.calls, args.rate, args.dashboards, args.seconds)
    report(load)
    ratio = load["lag_p95"] / base["lag_p95"] if base["lag_p95"] > 0 else float("nan")
    ok = load["lag_p95"] <= 1000.0 and not load["failures"] and load["acked"] + load["refused"] == load["sent"]
    print(f"load vs baseline: lag p95 x{ratio:.2f}, delivered-within-1s {100 * load['share_1s']:.1f}% vs "
          f"{100 * base['share_1s']:.1f}%; target lag p95 <= 1000 ms: {'met' if ok else 'NOT met'}")
    print(f"reproduce: .venv/bin/python benchmarks/hub_fanout.py --seconds {args.seconds:g} --calls {args.calls} "
          f"--rate {args.rate:g} --dashboards {args.dashboards}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
