"""Whole-process replay speed: what a QA user pays for ``calmline replay``.

    .venv/bin/python benchmarks/replay_process.py [--minutes 20] [--repeat 3]

Writes a long stereo call (the escalation fixture tiled to ``--minutes``) as
FLAC once, then times, interleaved and best of ``--repeat``, three whole
processes on that same file:

- ``calmline replay FILE --no-transcribe --events OUT``: the real command, start-up,
  decoding, front end, coach and event writing included;
- a bare baseline process: start Python, import PyAV and webrtcvad, decode the same
  FLAC and run webrtcvad (mode 2) on every 20 ms frame of both channels.  It has
  no level gate: it runs the VAD on every frame, where the front end skips frames
  under its level gate (the share skipped is printed, from the events' level
  readings);
- ``calmline --help``: the start-up cost alone.

Prints the times, real-time factors and the ratio against the baseline (goals:
>= 500x real time, <= 3x the baseline), and the command that reproduces them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _calls import ROOT, decode, fixture, tiled, write_flac

BASELINE = r"""
import sys, av, numpy as np, webrtcvad
vads = [webrtcvad.Vad(2), webrtcvad.Vad(2)]
rest = [b"", b""]
with av.open(sys.argv[1]) as box:
    for frame in box.decode(audio=0):
        pcm = frame.to_ndarray()
        if pcm.dtype != np.int16:
            pcm = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
        if pcm.shape[0] == 1:            # packed: one interleaved row
            pcm = pcm.reshape(-1, 2).T
        for ch in range(2):
            buf = rest[ch] + pcm[ch].tobytes()
            n = len(buf) // 640 * 640
            for k in range(0, n, 640):
                vads[ch].is_speech(buf[k:k + 640], 16000)
            rest[ch] = buf[n:]
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"replay_process: {' '.join(cmd[:3])} ... failed: {proc.stderr.strip()[-400:]}")
    return dt


def gated_share(events_path: Path) -> float:
    """Share of level readings below the front end's gate (not speaking and quiet)."""
    quiet = total = 0
    with open(events_path, encoding="utf-8") as fh:
        for line in fh:
            if '"type":"level"' not in line:
                continue
            e = json.loads(line)
            total += 1
            quiet += (not e.get("speaking")) and e["dbfs"] < -50.0
    return quiet / total if total else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    python = sys.executable
    calmline = str(Path(python).with_name("calmline"))
    with tempfile.TemporaryDirectory(prefix="calmline-bench-") as tmp:
        call = Path(tmp) / "long.flac"
        seconds = write_flac(call, tiled([decode(fixture("escalation"))], args.minutes * 60), 2)
        events = Path(tmp) / "events.jsonl"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        replay_t, base_t, help_t = [], [], []
        for _ in range(args.repeat):          # interleaved: all three see the same load
            replay_t.append(timed([calmline, "replay", str(call), "--no-transcribe",
                                   "--events", str(events)]))
            base_t.append(timed([python, "-c", BASELINE, str(call)]))
            help_t.append(timed([calmline, "--help"]))
        n_events = sum(1 for _ in open(events, encoding="utf-8"))
        gate = gated_share(events)
    replay, base, start = min(replay_t), min(base_t), min(help_t)
    print(f"call: {seconds / 60:.1f} min stereo FLAC (escalation fixture tiled); "
          f"{n_events} events written; ~{gate:.0%} of level readings quiet "
          f"(the front end's gate skips VAD there, the baseline does not)")
    print(f"calmline replay --no-transcribe --events: {replay:6.2f} s "
          f"({seconds / replay:6.0f}x real time; goal >= 500x)")
    print(f"bare decode + webrtcvad process:          {base:6.2f} s "
          f"({seconds / base:6.0f}x real time)")
    print(f"ratio replay / bare: {replay / base:.2f} (goal <= 3)")
    print(f"calmline --help start-up: {start:.2f} s")
    print(f"reproduce: .venv/bin/python benchmarks/replay_process.py --minutes {args.minutes:g} "
          f"--repeat {args.repeat}")


if __name__ == "__main__":
    main()
