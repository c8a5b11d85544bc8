"""Front-end speed: a 20-minute stereo call through VAD, level, vocal effort,
raised voice and turns, against a bare loop that only calls webrtcvad on the
same frames.

    .venv/bin/python benchmarks/frontend.py [--minutes 20] [--repeat 5]

Prints both times (best of --repeat, interleaved), their ratio (goal <= 3) and
the front end's real-time factor (goal >= 500x).  Times are the CPU time of
this process (``time.process_time``; both loops are single-threaded), so other
work on the machine does not move the ratio as wall-clock time would.  The call
is the escalation fixture tiled to length, held in memory, so file decoding is
not part of the figure.  ``--no-effort`` runs the front end with vocal effort
off, to show what that part costs.

The bare loop runs webrtcvad on every frame; the front end skips it on frames
under its level gate (``[vad] min_dbfs``, -55 dBFS), which on the clean fixture
is most of the silence.  The share of frames under the gate is printed, and
``--noise-floor-db -45`` adds white noise over the gate to both channels (a
noisy line), so the front end runs webrtcvad on every frame as the baseline does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import webrtcvad

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio.file_source import FileSource  # noqa: E402
from audio.frames import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, to_int16  # noqa: E402
from audio.effort import EffortParams  # noqa: E402
from audio.frontend import FrontEnd, FrontEndParams  # noqa: E402
from audio.raised_voice import RaisedVoiceParams  # noqa: E402
from audio.vad import VadParams  # noqa: E402


def load_call(minutes: float, noise_db: float | None = None) -> np.ndarray:
    blocks = list(FileSource(ROOT / "fixtures" / "escalation.flac").blocks())
    one = np.concatenate(blocks, axis=1)
    if noise_db is not None:
        rng = np.random.default_rng(7)
        one = one + rng.normal(0, 10 ** (noise_db / 20), one.shape).astype(np.float32)
    n = int(minutes * 60 * SAMPLE_RATE) // FRAME_SAMPLES * FRAME_SAMPLES
    reps = -(-n // one.shape[1])
    return to_int16(np.tile(one, (1, reps))[:, :n])


def share_under_gate(pcm: np.ndarray) -> float:
    """Share of 20 ms frames (both channels) whose level is under the VAD's gate."""
    frames = pcm[:, : pcm.shape[1] // FRAME_SAMPLES * FRAME_SAMPLES].reshape(pcm.shape[0], -1, FRAME_SAMPLES)
    power = np.mean((frames.astype(np.float64) / 32768.0) ** 2, axis=2)
    dbfs = 10 * np.log10(np.maximum(power, 1e-10)) + 3.0103      # full-scale sine = 0 dBFS
    return float(np.mean(dbfs < VadParams().min_dbfs))


def run_frontend(pcm: np.ndarray, block: int, effort: bool = True) -> tuple[float, int]:
    params = FrontEndParams(raised_voice=RaisedVoiceParams(effort=EffortParams(enabled=effort)))
    fe = FrontEnd(("operator", "customer"), params)
    n_facts = 0
    t0 = time.process_time()
    for start in range(0, pcm.shape[1], block):
        n_facts += len(fe.process(pcm[:, start:start + block]))
    n_facts += len(fe.finish())
    return time.process_time() - t0, n_facts


def run_bare_vad(pcm: np.ndarray) -> float:
    vads = [webrtcvad.Vad(2) for _ in range(pcm.shape[0])]
    bufs = [memoryview(np.ascontiguousarray(ch).tobytes()) for ch in pcm]
    frames = pcm.shape[1] // FRAME_SAMPLES
    t0 = time.process_time()
    for vad, buf in zip(vads, bufs):
        is_speech = vad.is_speech
        for k in range(frames):
            is_speech(buf[k * FRAME_BYTES:(k + 1) * FRAME_BYTES], SAMPLE_RATE)
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-effort", action="store_true", help="vocal effort off")
    ap.add_argument("--block-seconds", type=float, default=0.5)
    ap.add_argument("--noise-floor-db", type=float, default=None,
                    help="add white noise at this level (dBFS), e.g. -45, over the VAD's gate")
    args = ap.parse_args()
    pcm = load_call(args.minutes, args.noise_floor_db)
    seconds = pcm.shape[1] / SAMPLE_RATE
    block = int(args.block_seconds * SAMPLE_RATE) // FRAME_SAMPLES * FRAME_SAMPLES
    fe_times, vad_times, facts = [], [], 0
    for _ in range(args.repeat):          # interleaved, so both see the same machine load
        dt, facts = run_frontend(pcm, block, effort=not args.no_effort)
        fe_times.append(dt)
        vad_times.append(run_bare_vad(pcm))
    fe, vad = min(fe_times), min(vad_times)
    print(f"call: {seconds / 60:.1f} min stereo (escalation fixture tiled), {facts} facts, "
          f"vocal effort {'off' if args.no_effort else 'on'}; CPU seconds, best of {args.repeat}")
    print(f"front end:      {fe:7.3f} s  ({seconds / fe:7.0f}x real time; goal >= 500x)")
    print(f"bare webrtcvad: {vad:7.3f} s  ({seconds / vad:7.0f}x real time)")
    print(f"ratio front end / bare VAD: {fe / vad:.2f} (goal <= 3)")
    print(f"frames under the level gate ({VadParams().min_dbfs:g} dBFS), where the front end "
          f"skips webrtcvad and the bare loop does not: {share_under_gate(pcm):.0%}"
          + ("" if args.noise_floor_db is not None else " (try --noise-floor-db -45)"))
    print(f"reproduce: .venv/bin/python benchmarks/frontend.py --minutes {args.minutes:g} "
          f"--repeat {args.repeat}" + (" --no-effort" if args.no_effort else "")
          + (f" --noise-floor-db {args.noise_floor_db:g}" if args.noise_floor_db is not None else ""))


if __name__ == "__main__":
    main()
