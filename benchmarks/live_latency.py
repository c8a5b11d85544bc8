"""Live latency through real sound devices, on a quiet machine and with one core busy.

    .venv/bin/python benchmarks/live_latency.py [--fixture escalation] [--language en]
                                                [--scenarios quiet,busy]

A private PulseAudio daemon (``tests/pulse.py``: its own HOME and runtime dir, two
null sinks ``headset`` and ``customer`` whose monitors are the ALSA capture devices
``headset_in`` and ``customer_in``) carries the call: each channel of the fixture is
played into its sink with ``paplay`` at 1x while

    calmline live --mic headset_in --far-end customer_in --events F --no-browser

listens, then SIGTERM ends the call.  ``busy`` runs the same with a burner (a
process spinning in a busy loop: one core taken, as a softphone, a CRM and a
browser take their share of an operator's PC).

Printed per scenario:
- **capture buffer**: median ``wall - t_detected`` of ``speech_start`` (audio time
  to the event on the bus), against the sound server's own floor: the same figure
  for a bare ``sounddevice.InputStream`` on the same device, measured in the same
  run with the same time base (from the first captured sample).  Goal: <= 0.15 s,
  or <= floor + 0.05 s when the floor is higher;
- **transcript lag**: the summary's ``transcription.lag_s`` (end of speech to the
  utterance on the bus); goal p95 <= 1.0 s quiet, <= 1.8 s busy; and the oldest
  utterance shown against ``max_age_s`` (the age the transcriber enforces, from
  when the audio was processed; ``wall - t_end`` adds the capture buffer), with
  what was dropped as too old and how often the screen was told "transcript
  delayed";
- **raised voice**: ground-truth loud onset to the ``raised_voice`` event, in audio
  time (the playback's offset found from the speech starts), goal p95 <= 0.25 s;
- **early prompts**: of the customer utterances of 3 s or more carrying a manager,
  legal or abuse trigger and answered by a prompt that trigger caused (on the bus
  within 5 s of their end and not withdrawn; the prompt policy holds back a repeat
  of the same advice, and a second plan within its cooldown, which are then not
  shown at all), those whose prompt was on the bus before the utterance ended;
  goal at least half.  ``--fixture long_turns`` has seven such turns (``--config`` with a
  relaxed ``[coach.policy]`` answers all of them);
- a **load probe**: a bare ``model.transcribe()`` of a fixed 5 s clip (median of
  3) and the load average, so a reader can tell how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _calls import ROOT, as_model_input, decode, fixture, load_model, pct

from monitor.config import load_config  # noqa: E402
from tests.pulse import PrivatePulse, PulseError, write_wav  # noqa: E402

CALMLINE = Path(sys.executable).with_name("calmline")
TRIGGERS = ("manager_request", "legal_threat", "abuse")
FLOOR_S = 8.0
PROMPT_WINDOW_S = 5.0      # a prompt this soon after a trigger utterance ends answers it


# --- the bare stream: the sound server's own floor ------------------------------------------
def floor_probe(device: str, seconds: float) -> None:
    """(Child process, in the daemon's environment.)  A bare InputStream, low latency,
    10 ms blocks: for each block, arrival minus the capture time of its last sample,
    counted from the first captured sample as calmline counts; JSON on stdout."""
    import sounddevice as sd

    info = sd.query_devices(device, "input")
    rate = int(info["default_samplerate"])
    block = rate // 100
    got: list[tuple[float, int]] = []

    def callback(indata, frames, time_info, status):
        got.append((time.monotonic(), frames))

    with sd.InputStream(device=device, channels=1, samplerate=rate, dtype="float32",
                        blocksize=block, latency="low", callback=callback):
        time.sleep(seconds)
    first_at = got[0][0] - got[0][1] / rate
    n, delays = 0, []
    for arrived, frames in got:
        n += frames
        delays.append(arrived - first_at - n / rate)
    print(json.dumps({"median": float(np.median(delays)), "p95": float(np.percentile(delays, 95)),
                      "blocks": len(got), "rate": rate}))


def measure_floor(pa: PrivatePulse) -> dict:
    out = subprocess.run([sys.executable, __file__, "--floor-probe", "headset_in"], env=pa.env,
                         capture_output=True, text=True, timeout=60 + FLOOR_S)
    if out.returncode != 0:
        raise SystemExit(f"bare stream probe failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- one scenario -------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe_model(model, clip: np.ndarray, language: str) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        segments, _ = model.transcribe(clip, language=language, beam_size=1, temperature=0.0,
                                       without_timestamps=True, vad_filter=False,
                                       condition_on_previous_text=False)
        list(segments)
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


def run_call(pa: PrivatePulse, wavs: dict[str, Path], events: Path, language: str,
             config: str | None) -> list[str]:
    cmd = [str(CALMLINE), "live", "--mic", "headset_in", "--far-end", "customer_in",
           "--events", str(events), "--no-browser", "--language", language, "--port", str(free_port())]
    if config:
        cmd += ["--config", config]
    proc = subprocess.Popen(cmd, env=pa.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("listening on" in line for line in err):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"calmline live did not start: {''.join(err)[-800:]}")
            time.sleep(0.05)
        players = [pa.play("headset", wavs["operator"]), pa.play("customer", wavs["customer"])]
        for player in players:
            player.wait(600)
        time.sleep(4.0)                 # the last words' end wait and model call
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(5)
    if proc.returncode != 0:
        raise SystemExit(f"calmline live exited {proc.returncode}: {''.join(err)[-800:]}")
    return err


def playback_offsets(events: list[dict], truth: dict) -> dict[str, tuple[float, float]]:
    """Per speaker: where the fixture's time 0 fell in the call's audio time (median
    of speech start minus ground-truth start, nearest pairs) and its spread."""
    out = {}
    for speaker in ("operator", "customer"):
        starts = [e["t"] for e in events if e["type"] == "speech_start" and e.get("speaker") == speaker]
        segs = [s["start"] for s in truth["segments"] if s["speaker"] == speaker]
        if not starts or not segs:
            continue
        first = np.median([min(starts, key=lambda t: abs(t - (s + starts[0] - segs[0]))) - s for s in segs])
        diffs = [min(starts, key=lambda t: abs(t - (s + first))) - s for s in segs]
        out[speaker] = (float(np.median(diffs)), float(np.percentile(diffs, 75) - np.percentile(diffs, 25)))
    return out


def answers(prompt: dict, a: float, b: float) -> bool:
    """The prompt was caused by a customer's manager, legal or abuse trigger in the
    utterance spoken from ``a`` to ``b`` (audio time): a prompt that only happens
    to land then (a breathe prompt for the state of the call, or one for the
    utterance before) does not answer it."""
    why = prompt.get("why") or {}
    return (why.get("speaker") == "customer" and why.get("cue") in TRIGGERS
            and a - 0.5 <= why.get("t", float("nan")) <= b + 0.5)


def figures(events: list[dict], truth: dict, floor: dict) -> dict:
    by = lambda kind: [e for e in events if e["type"] == kind]  # noqa: E731
    summary = by("summary")[-1] if by("summary") else {}
    tr = summary.get("transcription", {})
    capture = [e["wall"] - e["t_detected"] for e in by("speech_start") if "t_detected" in e]
    shown = [e["wall"] - e["t_end"] for e in by("utterance")]
    offsets = playback_offsets(events, truth)
    raised = []
    for gt in truth.get("events", {}).get("raised_voice", []):
        off = offsets.get(gt["speaker"], (None,))[0]
        if off is None:
            continue
        onset = gt["start"] + off
        hits = [e for e in by("raised_voice") if e.get("speaker") == gt["speaker"]
                and onset - 0.5 <= e["t_detected"] <= gt["end"] + off]
        raised.append(min(e["t_detected"] for e in hits) - onset if hits else float("inf"))
    early, carrying, heard_early, prompted = 0, 0, 0, 0
    withdrawn = {e.get("prompt") for e in by("trigger_withdrawn")}
    cust_off = offsets.get("customer", (0.0,))[0]
    for seg in truth["segments"]:
        if seg["speaker"] != "customer" or seg["end"] - seg["start"] < 3.0:
            continue
        a, b = seg["start"] + cust_off, seg["end"] + cust_off
        if not any(e.get("speaker") == "customer" and e.get("category") in TRIGGERS
                   and a - 0.5 <= e["t"] <= b + 0.5 for e in by("trigger")):
            continue
        carrying += 1
        answered = [e for e in by("prompt") if e["id"] not in withdrawn
                    and answers(e, a, b) and e["wall"] <= b + PROMPT_WINDOW_S]
        prompted += bool(answered)
        early += any(e["wall"] <= b for e in answered)
        heard_early += any(e.get("speaker") == "customer" and e.get("category") in TRIGGERS
                           and e.get("partial") and a - 0.5 <= e["t"] <= b and e["wall"] <= b
                           for e in by("trigger"))
    return {"capture": capture, "floor": floor, "tr": tr, "shown": shown, "raised": raised,
            "offsets": offsets, "early": (early, carrying, heard_early, prompted),
            "delayed": sum(1 for e in by("transcript_delayed") if e.get("on")),
            "dropped_blocks": summary.get("frames_dropped", 0)}


def report(name: str, f: dict, probe: float, load: float, busy: bool) -> None:
    cap, floor = pct(f["capture"], 50), f["floor"]["median"]
    goal = max(0.15, floor + 0.05)
    lag = f["tr"].get("lag_s", {})
    lag_goal = 1.8 if busy else 1.0
    max_age = f["tr"].get("max_age_s", float("nan"))
    print(f"--- {name}: load probe {probe:.3f} s (bare transcribe of a 5 s clip), load average {load:.2f}")
    print(f"capture buffer (median wall - t_detected of speech_start, n={len(f['capture'])}): "
          f"{cap:.3f} s; bare-stream floor {floor:.3f} s (p95 {f['floor']['p95']:.3f} s, "
          f"{f['floor']['rate']} Hz, 10 ms blocks); goal <= {goal:.3f} s "
          + ("OK" if cap <= goal else "MISSED"))
    if lag:
        print(f"transcript lag (summary lag_s): p50 {lag['p50']:.3f} s, p95 {lag['p95']:.3f} s, "
              f"max {lag['max']:.3f} s; goal p95 <= {lag_goal:.1f} s "
              + ("OK" if lag["p95"] <= lag_goal else "MISSED"))
    oldest = max(f["shown"]) if f["shown"] else float("nan")
    aged = lag.get("max", float("nan"))
    print(f"utterances shown {len(f['shown'])}, the oldest {aged:.3f} s after its audio was "
          f"processed, limit max_age_s {max_age:g} s " + ("OK" if aged <= max_age else "OVER")
          + f" ({oldest:.3f} s after capture: wall - t_end adds the capture buffer)"
          + f"; too old and dropped {f['tr'].get('too_old', {})}, skipped {f['tr'].get('skipped', 0)}, "
          f"merged {f['tr'].get('merged', 0)}, 'transcript delayed' shown {f['delayed']}x; "
          f"partials {f['tr'].get('partials', 0)} (cancelled {f['tr'].get('partials_cancelled', 0)})")
    if f["raised"]:
        finite = [x for x in f["raised"] if np.isfinite(x)]
        p95 = pct(finite, 95) if finite else float("nan")
        print("raised voice onset -> event (audio time): "
              + ", ".join(f"{x * 1000:.0f}" if np.isfinite(x) else "missed" for x in f["raised"])
              + f" ms; p95 {p95 * 1000:.0f} ms; goal <= 250 ms " + ("OK" if p95 <= 0.25 else "MISSED")
              + "  (playback offset from speech starts, spread "
              + ", ".join(f"{s} {iqr * 1000:.0f} ms" for s, (_, iqr) in f["offsets"].items()) + ")")
    early, carrying, heard_early, prompted = f["early"]
    if not carrying:
        print("customer utterances >= 3 s with a manager/legal/abuse trigger: none in this call "
              "(--fixture long_turns has seven)")
    else:
        print(f"customer utterances >= 3 s with a manager/legal/abuse trigger: {carrying}, "
              f"{prompted} of them answered by a prompt their trigger caused (the prompt policy holds "
              f"back repeats and a plan within its cooldown); prompt on the "
              f"bus before the utterance ended in {early} of {prompted}; goal at least half "
              + ("OK" if prompted and early * 2 >= prompted else "MISSED")
              + f"; the trigger itself (from a partial transcript) before the end in "
              f"{heard_early} of {carrying}")
    if f["dropped_blocks"]:
        print(f"input frames dropped: {f['dropped_blocks']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixture", default="escalation")
    ap.add_argument("--language", default="en")
    ap.add_argument("--scenarios", default="quiet,busy", help="quiet, busy or both (comma-separated)")
    ap.add_argument("--keep", metavar="DIR", default=None, help="keep the events files here")
    ap.add_argument("--config", metavar="FILE", default=None, help="settings file for calmline live")
    ap.add_argument("--floor-probe", metavar="DEVICE", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_probe:
        floor_probe(args.floor_probe, FLOOR_S)
        return
    path = fixture(args.fixture)
    truth = json.loads(path.with_suffix(".json").read_text())
    pcm = decode(path)
    cfg = load_config(None, {"transcription": {"language": args.language}})
    model = load_model(cfg)
    clip = as_model_input(pcm[0, :16000 * 5])
    probe_model(model, clip, args.language)                     # warm-up, not counted
    with tempfile.TemporaryDirectory(prefix="calmline-live-") as tmp:
        tmp_path = Path(args.keep or tmp)
        tmp_path.mkdir(parents=True, exist_ok=True)
        wavs = {name: write_wav(tmp_path / f"{name}.wav", pcm[truth["channel_map"].index(name)])
                for name in ("operator", "customer")}
        try:
            pa = PrivatePulse(Path(tmp) / "pulse").start()
        except PulseError as exc:
            raise SystemExit(f"PulseAudio cannot start here: {exc}")
        try:
            for name in args.scenarios.split(","):
                busy = name == "busy"
                burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                try:
                    time.sleep(1.0 if busy else 0.0)
                    probe = probe_model(model, clip, args.language)
                    load = os.getloadavg()[0]
                    floor = measure_floor(pa)
                    events_file = tmp_path / f"events-{name}.jsonl"
                    run_call(pa, wavs, events_file, args.language, args.config)
                finally:
                    if burner is not None:
                        burner.terminate()
                        burner.wait(5)
                events = [json.loads(x) for x in events_file.read_text().splitlines() if x.strip()]
                report(name + (" (one core kept busy by a burner process)" if busy else ""),
                       figures(events, truth, floor), probe, load, busy)
        finally:
            pa.stop()
    print(f"machine: {os.cpu_count()} CPUs; fixture {path.name} ({truth['duration']:.1f} s), "
          f"played at 1x per channel with paplay")
    print(f"reproduce: .venv/bin/python benchmarks/live_latency.py --fixture {args.fixture} "
          f"--language {args.language} --scenarios {args.scenarios}"
          + (f" --config {args.config}" if args.config else ""))


if __name__ == "__main__":
    main()
