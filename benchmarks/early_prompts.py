"""Prompts while the customer is still talking: triggers from stable partial transcripts.

For every customer utterance of 3 s or more that carries a manager demand, a
legal threat or an insult (by its reference text in the fixture's ground truth),
is the prompt that answers it on the event bus before the utterance ends?  Goal
(issue 12): in at least half of them.

A paced (1x) replay of ``fixtures/long_turns.flac`` (long customer turns with the
trigger early, in the middle or at the end, and two long turns without one)
through the public command, ``calmline replay --realtime`` (live transcription
policy: one worker, partial transcripts, speculative finals), with the bundled
model.  "Before the utterance ends" is judged on the wall clock: the bus ``wall``
of the prompt against the ``wall`` at which the pipeline had read the audio up to
the utterance's end (interpolated from the level readings, which follow the
audio as it is read).

The prompt policy is relaxed in the measured run (no cooldown, de-duplication or
per-call and per-minute limits, cards that leave after 1 s so none outranks the
next, and no hold-and-breathe timer, whose 30 s pacer would outrank the plan
prompts) so that what is measured is latency, not the policy: in a real call a
prompt held back by the policy is not shown at all, early or late.  Also printed,
in the same run:

- the baseline: when the prompt would have come had the coach waited for the
  final transcript (the customer's final ``utterance`` event on the bus), and the
  ratio of the median start-of-turn -> prompt time with partials to that baseline;
- the share of trigger utterances whose *trigger* was on the bus before the end;
- triggers withdrawn by a final, and triggers raised in the control turns;
- a load probe (CPUs, load average before and after).

    .venv/bin/python benchmarks/early_prompts.py
    .venv/bin/python benchmarks/early_prompts.py --partial-after 1.5 --partial-every 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.coaching.playbook import load_playbook  # noqa: E402
from monitor.coaching.triggers import TriggerMatcher  # noqa: E402

FIXTURE = ROOT / "fixtures" / "long_turns.flac"
CALMLINE = ROOT / ".venv" / "bin" / "calmline"
CATEGORIES = ("manager_request", "legal_threat", "abuse")
MIN_UTTERANCE_S = 3.0
GOAL = 0.5


def run_replay(events: Path, partial_after: float | None, partial_every: float | None) -> float:
    lines = ["[coach]", "breathe_after_s = 600",
             "[coach.policy]", "cooldown_s = 0", "per_minute = 60", "dedupe_s = 0", "max_per_call = 100",
             "ttl_s = 1"]
    if partial_after is not None or partial_every is not None:
        lines.append("[transcription]")
        if partial_after is not None:
            lines.append(f"partial_after_s = {partial_after}")
        if partial_every is not None:
            lines.append(f"partial_every_s = {partial_every}")
    config = events.with_suffix(".toml")
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [str(CALMLINE), "replay", str(FIXTURE), "--realtime", "--language", "en",
           "--events", str(events), "--config", str(config), "--no-progress"]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"early_prompts: the replay failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def wall_at(levels: list[tuple[float, float]], t: float) -> float:
    """The bus wall clock when the pipeline had read the audio up to ``t`` (interpolated)."""
    times = [x[0] for x in levels]
    i = bisect_left(times, t)
    if i <= 0:
        return levels[0][1] - (levels[0][0] - t)
    if i >= len(levels):
        return levels[-1][1] + (t - levels[-1][0])
    (t0, w0), (t1, w1) = levels[i - 1], levels[i]
    return w0 + (w1 - w0) * (t - t0) / (t1 - t0) if t1 > t0 else w1


def analyse(events: list[dict], truth: dict) -> dict:
    matcher = TriggerMatcher(load_playbook("en"))
    levels = sorted((e["t"], e["wall"]) for e in events if e["type"] == "level")
    prompts = [e for e in events if e["type"] == "prompt" and e.get("why", {}).get("speaker") == "customer"
               and e.get("why", {}).get("cue") in CATEGORIES]
    triggers = [e for e in events if e["type"] == "trigger" and e.get("speaker") == "customer"]
    finals = [e for e in events if e["type"] == "utterance" and e.get("speaker") == "customer"]
    rows, controls = [], []
    for seg in truth["segments"]:
        if seg["speaker"] != "customer" or seg["end"] - seg["start"] < MIN_UTTERANCE_S:
            continue
        cats = {m.category for m in matcher.match(seg["text"], "customer")} & set(CATEGORIES)
        start, end = seg["start"], seg["end"]
        mine = [x for x in triggers if start - 0.5 <= x["t"] <= end]
        if not cats:
            controls.append((seg, [x for x in mine if x["category"] in CATEGORIES]))
            continue
        end_wall, start_wall = wall_at(levels, end), wall_at(levels, start)
        prompt = next((p for p in prompts if p["why"]["cue"] in cats
                       and start - 0.5 <= p["why"].get("t", p["t"]) <= end + 15.0), None)
        trig = next((x for x in mine if x["category"] in cats), None)
        final = next((u for u in finals if u["t"] - 0.5 <= start <= u["t_end"] + 0.5
                      or start - 0.5 <= u["t"] <= end), None)
        rows.append({
            "start": start, "end": end, "text": seg["text"], "categories": sorted(cats),
            "prompt_lead": None if prompt is None else round(end_wall - prompt["wall"], 2),
            "trigger_lead": None if trig is None else round(end_wall - trig["wall"], 2),
            "partial": bool(trig and trig.get("partial")),
            "final_lead": None if final is None else round(end_wall - final["wall"], 2),
            "prompt_after_start": None if prompt is None else round(prompt["wall"] - start_wall, 2),
            "final_after_start": None if final is None else round(final["wall"] - start_wall, 2),
        })
    withdrawn = [e for e in events if e["type"] == "trigger_withdrawn"]
    summary = next((e for e in events if e["type"] == "summary"), {})
    return {"rows": rows, "controls": controls, "withdrawn": withdrawn,
            "transcription": summary.get("transcription", {})}


def report(name: str, result: dict, seconds: float) -> dict:
    rows = result["rows"]
    early = [r for r in rows if r["prompt_lead"] is not None and r["prompt_lead"] > 0]
    trig_early = [r for r in rows if r["trigger_lead"] is not None and r["trigger_lead"] > 0]
    print(f"\n== {name}  (replay took {seconds:.1f} s for {FIXTURE.name})")
    print(f"{'utterance':>13}  {'len':>5}  {'prompt lead':>11}  {'final lead':>10}  from    words")
    for r in rows:
        lead = "none" if r["prompt_lead"] is None else f"{r['prompt_lead']:+.2f} s"
        final = "none" if r["final_lead"] is None else f"{r['final_lead']:+.2f} s"
        src = "partial" if r["partial"] else "final"
        print(f"{r['start']:6.1f}-{r['end']:6.1f}  {r['end'] - r['start']:4.1f}s  {lead:>11}  {final:>10}  "
              f"{src:7s} {r['text'][:58]}")
    n = len(rows)
    share = len(early) / n if n else 0.0
    delays = [-r["prompt_lead"] for r in rows if r["prompt_lead"] is not None]
    base = [-r["final_lead"] for r in rows if r["final_lead"] is not None]
    since = [r["prompt_after_start"] for r in rows if r["prompt_after_start"] is not None]
    since_base = [r["final_after_start"] for r in rows if r["final_after_start"] is not None]
    print(f"prompt on the bus before the customer finished: {len(early)}/{n} = {share:.2f} "
          f"(goal >= {GOAL:.2f}: {'met' if share >= GOAL else 'NOT met'})")
    print(f"trigger on the bus before the end: {len(trig_early)}/{n}")
    if delays and base:
        med, med_base = statistics.median(delays), statistics.median(base)
        print(f"end of speech -> prompt, median: {med:+.2f} s; baseline (the final transcript, same run): "
              f"{med_base:+.2f} s ({med_base - med:.2f} s later)")
    if since and since_base:
        a, b = statistics.median(since), statistics.median(since_base)
        print(f"start of turn -> prompt, median: {a:.2f} s; baseline (final transcript): {b:.2f} s; "
              f"ratio {a / b:.2f}")
    print(f"triggers withdrawn by a final: {len(result['withdrawn'])}; "
          f"manager/legal/abuse triggers in the {len(result['controls'])} control turns: "
          f"{sum(len(c[1]) for c in result['controls'])}")
    tr = result["transcription"]
    if tr:
        keys = ("partials", "partials_skipped", "speculations_used", "merged", "skipped", "lag_s")
        print("transcription:", json.dumps({k: tr[k] for k in keys if k in tr}))
    return {"share": share, "early": len(early), "n": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--partial-after", type=float, default=None,
                    help="[transcription] partial_after_s for the run (default: the configured one)")
    ap.add_argument("--partial-every", type=float, default=None,
                    help="[transcription] partial_every_s for the run")
    ap.add_argument("--keep", type=Path, default=None, help="also copy the events file here")
    args = ap.parse_args()
    truth = json.loads(FIXTURE.with_suffix(".json").read_text(encoding="utf-8"))
    load_before = os.getloadavg()
    print(f"load probe: {os.cpu_count()} CPUs, load average before {load_before[0]:.2f} "
          f"{load_before[1]:.2f} {load_before[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="early-prompts-") as tmp:
        path = Path(tmp) / "events.jsonl"
        seconds = run_replay(path, args.partial_after, args.partial_every)
        events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        if args.keep:
            args.keep.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    name = "configured partial settings" if args.partial_after is None and args.partial_every is None else (
        f"partial_after_s={args.partial_after}, partial_every_s={args.partial_every}")
    out = report(name, analyse(events, truth), seconds)
    load_after = os.getloadavg()
    print(f"load probe: load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    cmd = "  ".join(["python"] + sys.argv)
    print(f"rerun: .venv/bin/{cmd}")
    return 0 if out["share"] >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
