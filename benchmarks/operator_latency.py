"""Operator screen latency: from a prompt event's emission on the bus to the page
having painted it, in headless Chromium (the system's /usr/bin/chromium).

    .venv/bin/python benchmarks/operator_latency.py [--prompts 100] [--interval-ms 150] [--no-levels]

The web server runs in-process (event bus -> Broadcaster -> FastAPI/uvicorn
WebSocket), as ``calmline replay --ui`` wires it, behind the same gate (Host,
Origin and session-cookie checks on every request; the browser signs in through
the one-time launch link, as the CLI opens it).  The page connects, a call
starts, and ``--prompts`` prompt events are emitted ``--interval-ms`` apart, the
kinds taking turns (breathe included, so the pacer is drawn too).  Before each
prompt the previous one is acknowledged on the bus (``prompt_ack``, as when the
operator presses U), so every prompt takes the card rather than waiting behind a
higher-priority one.  Unless ``--no-levels``, both speakers' level readings flow
at 10/s each during the run, as in a live call.

The page reports, per event, ``received_ms`` (WebSocket message arrived) and
``displayed_ms`` (after the frame with the change was painted: a message posted
from requestAnimationFrame).  The broadcaster's ``latency_report("prompt")`` gives
emission-to-visible p50/p95 (goal p95 <= 150 ms) and, in the same run, emission-
to-received p50/p95: the transport alone, the baseline the rendering adds to.
Browser and server share this machine's clock.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.event_bus import EventBus  # noqa: E402
from monitor.vocabulary import PROMPT_PRIORITY as PRIORITY  # noqa: E402
from monitor.web.access import ScreenAccess  # noqa: E402
from monitor.web.broadcaster import Broadcaster  # noqa: E402
from monitor.web.server import WebServer, create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KINDS = ["plan", "listen", "de_escalate", "empathy", "technique", "boundary", "breathe"]
GOAL_P95_MS = 150.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--interval-ms", type=float, default=150.0)
    ap.add_argument("--no-levels", action="store_true", help="no level readings during the run")
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is not installed (scripts/install-system-deps --test installs it)")
    from playwright.sync_api import sync_playwright

    bus = EventBus("latency-bench")
    broadcaster = Broadcaster()
    bus.subscribe(broadcaster)
    clock = {"t": 0.0}

    def on_ack(prompt_id: str, action: str) -> None:
        bus.emit("prompt_ack", clock["t"], "operator", prompt_id=prompt_id, action=action)

    port = free_port()
    access = ScreenAccess("127.0.0.1", port)
    server = WebServer(create_app(broadcaster, on_ack, access), "127.0.0.1", port)
    server.start()
    stop_levels = threading.Event()

    def levels() -> None:
        t = 0.0
        while not stop_levels.wait(0.1):
            t += 0.1
            for speaker, st in (("operator", -28.0), ("customer", -22.0)):
                bus.emit("level", t, speaker, dbfs=st, short_term_dbfs=st + float(np.sin(t)),
                         baseline_dbfs=st - 2.0, speaking=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(access.launch_url(server.url))      # signs in; lands on the plain address
        page.wait_for_selector('#connection[data-state="connected"]')
        bus.emit("call_start", 0.0, source="benchmark", sample_rate=16000,
                 speakers=["operator", "customer"], channels=2)
        level_thread = threading.Thread(target=levels, daemon=True)
        if not args.no_levels:
            level_thread.start()
        time.sleep(0.5)

        previous = None
        started = time.monotonic()
        for i in range(args.prompts):
            target = started + i * args.interval_ms / 1000.0
            time.sleep(max(0.0, target - time.monotonic()))
            t = clock["t"] = 1.0 + i * args.interval_ms / 1000.0
            if previous is not None:
                bus.emit("prompt_ack", t, "operator", prompt_id=previous, action="used")
            kind = KINDS[i % len(KINDS)]
            pid = f"bench.{kind}.{i}@{t:.2f}"
            extra = {"pacer": {"inhale_s": 4, "exhale_s": 6, "cycles": 3}, "private": True} \
                if kind == "breathe" else {}
            bus.emit("prompt", t, "operator", id=pid, prompt=f"bench.{kind}", kind=kind,
                     priority=PRIORITY.get(kind, 0), title=f"Prompt {i + 1}: {kind.replace('_', ' ')}",
                     body="A body line of ordinary length, as the playbook's prompts have.",
                     why={"cue": "benchmark", "t": t}, ttl=15.0, language="en", **extra)
            previous = pid

        deadline = time.monotonic() + 10.0
        while broadcaster.latency_report("prompt").get("count", 0) < args.prompts and time.monotonic() < deadline:
            time.sleep(0.05)
        last_title = page.inner_text("#prompt-title")
        version = browser.version
        stop_levels.set()
        browser.close()
    server.stop()

    samples = [s for s in broadcaster.latency if s["type"] == "prompt"]
    report = broadcaster.latency_report("prompt")
    if not samples:
        sys.exit("the page reported no prompt as displayed")
    shown = np.array([s["to_display_ms"] for s in samples])
    recv = np.array([s["to_receive_ms"] for s in samples])
    paint = shown - recv
    levels_note = "no level traffic" if args.no_levels else "level readings 2 x 10/s alongside"
    print(f"operator screen: {args.prompts} prompts {args.interval_ms:.0f} ms apart, kinds in turn, "
          f"{levels_note}; headless Chromium {version}, {os.cpu_count()} CPUs")
    print(f"prompts the page reported displayed: {report['count']}/{args.prompts} "
          f"(last on the card: {last_title!r})")
    verdict = "met" if report["display_p95_ms"] <= GOAL_P95_MS else "MISSED"
    print(f"emission -> visible (painted):  p50 {report['display_p50_ms']:6.1f} ms   "
          f"p95 {report['display_p95_ms']:6.1f} ms   max {shown.max():6.1f} ms   "
          f"(goal p95 <= {GOAL_P95_MS:.0f} ms: {verdict})")
    print(f"emission -> received (baseline): p50 {report['receive_p50_ms']:6.1f} ms   "
          f"p95 {report['receive_p95_ms']:6.1f} ms   max {recv.max():6.1f} ms")
    print(f"received -> painted (the page):  p50 {np.percentile(paint, 50):6.1f} ms   "
          f"p95 {np.percentile(paint, 95):6.1f} ms")
    cmd = f".venv/bin/python benchmarks/operator_latency.py --prompts {args.prompts} " \
          f"--interval-ms {args.interval_ms:g}" + (" --no-levels" if args.no_levels else "")
    print(f"reproduce: {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
