"""How many concurrent calls ``calmline serve`` transcribes in time on this machine.

    .venv/bin/python benchmarks/serve_capacity.py [--calls 1,2,3,4,5,6] [--fixture escalation]
        [--seconds S] [--stagger 2.0] [--language en]

For each call count N, N Twilio-style streams of the fixture (mu-law, 8 kHz, 20 ms
media messages, both tracks, paced at 1x by the sending client) are fed to one
in-process ``serve`` (the real bundled model, loaded once and shared by every
call), starting ``--stagger`` seconds apart.  Each call's summary
gives its transcription lag (from the end of an utterance's speech to its
``utterance`` event, ``transcription.lag_s``); the script prints, per N, the worst
call's p50 and p95, the utterances, what was dropped or shed, and whether each call still
found the customer's raised voice, the manager and legal-threat triggers and a
prompt.

The baseline is the same script's N = 1 run: every line carries p95(N) / p95(1).
The goal (issue 13): lag p95 <= 2.5 s for every call at N = 5 on the 2-core machine.
The machine's load average is printed before and after, since other work on it
inflates the figures.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path

from _calls import ROOT  # (also puts the project on sys.path)

from monitor.config import load_config  # noqa: E402
from monitor.ingest.service import ServeOptions, Service, load_engine  # noqa: E402
from tests.serve_clients import load_8k, read_events, real_time, twilio_messages, twilio_stream  # noqa: E402

EXPECTED_TRIGGERS = {"manager_request", "legal_threat"}


def run_calls(service: Service, audio, n: int, stagger: float, events_dir: Path, tag: str) -> list[dict]:
    url = f"ws://127.0.0.1:{service.port}/ingest/twilio"
    sids = [f"CA-{tag}-{n}-{k}" for k in range(n)]

    def one(k: int) -> None:
        time.sleep(k * stagger)
        twilio_stream(url, twilio_messages(audio, call_sid=sids[k], operator=f"op{k}"), pace=real_time(1.0))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = []
    for sid in sids:
        events = read_events(events_dir / f"{sid}.jsonl", timeout=600)
        tr = events[-1].get("transcription", {})
        dropped = dict(tr.get("too_old", {}))          # finals the scheduler dropped, by reason
        out.append({"lag": tr.get("lag_s", {}), "utterances": tr.get("utterances", 0),
                    "skipped": tr.get("skipped", 0), "merged": tr.get("merged", 0), "dropped": dropped,
                    "triggers": {e["category"] for e in events if e["type"] == "trigger"},
                    "raised": any(e["type"] == "raised_voice" and e.get("speaker") == "customer"
                                  for e in events),
                    "prompts": sum(e["type"] == "prompt" for e in events)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", default="1,2,3,4,5,6", help="call counts to try, e.g. 1,3,5")
    ap.add_argument("--fixture", default="escalation")
    ap.add_argument("--seconds", type=float, default=None, help="only the first S seconds of the fixture")
    ap.add_argument("--stagger", type=float, default=2.0, help="seconds between call starts")
    ap.add_argument("--language", default="en")
    ap.add_argument("--config", type=Path, default=None, help="settings file (e.g. [transcription] "
                    "live_beam_size = 1)")
    args = ap.parse_args()
    os.chdir(ROOT)
    counts = [int(x) for x in args.calls.split(",")]
    audio = load_8k(args.fixture, args.seconds)
    cfg = load_config(args.config, {"transcription": {"language": args.language}})
    print(f"command: .venv/bin/python benchmarks/serve_capacity.py {shlex.join(sys.argv[1:])}")
    print(f"fixture {args.fixture}: {audio.shape[1] / 8000:.1f} s per call, paced at 1x, "
          f"starts {args.stagger:g} s apart; {os.cpu_count()} CPUs; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    engine = load_engine(cfg, lambda m: None)
    base_p95 = None
    with tempfile.TemporaryDirectory() as tmp:
        events_dir = Path(tmp)
        options = ServeOptions(port=0, events_dir=events_dir, max_calls=max(counts) + 1)
        with Service(cfg, options, lambda m: None, engine=engine) as service:
            print(f"{'calls':>5} {'p50 max':>8} {'p95 max':>8} {'p95/p95(1)':>10} {'utts':>5} "
                  f"{'merged':>6} {'skipped':>7} {'dropped/shed':>24} {'calls ok':>8}")
            for n in counts:
                rows = run_calls(service, audio, n, args.stagger, events_dir, f"r{n}")
                p50 = max(r["lag"].get("p50", float("nan")) for r in rows)
                p95 = max(r["lag"].get("p95", float("nan")) for r in rows)
                if base_p95 is None and n == 1:
                    base_p95 = p95
                ratio = f"{p95 / base_p95:.2f}" if base_p95 else "-"
                shed: dict[str, int] = {}
                for r in rows:
                    for k, v in r["dropped"].items():
                        shed[k] = shed.get(k, 0) + v
                ok = sum(EXPECTED_TRIGGERS <= r["triggers"] and r["raised"] and r["prompts"] > 0 for r in rows)
                shed_text = ",".join(f"{k.split('_')[0]}:{v}" for k, v in sorted(shed.items())) or "-"
                print(f"{n:>5} {p50:>8.2f} {p95:>8.2f} {ratio:>10} {sum(r['utterances'] for r in rows):>5} "
                      f"{sum(r['merged'] for r in rows):>6} {sum(r['skipped'] for r in rows):>7} "
                      f"{shed_text:>24} {ok:>4}/{n:<3}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("p50/p95 max: the worst call's lag percentiles (s), from the end of speech to the utterance "
          "event; goal p95 <= 2.5 s at 5 calls.  dropped/shed: finals and idle work not shown "
          "(summed over the calls); calls ok: the customer's raised voice, manager and legal-threat "
          "triggers and a prompt all found")


if __name__ == "__main__":
    main()
