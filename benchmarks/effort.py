"""Raised voice under telephone AGC: real angry vs neutral speech levelled to the
same RMS, and calm mono calls that must raise nothing.

    .venv/bin/python benchmarks/effort.py [--data DIR] [--contexts 3] [--speaker customer]

1. **Levelled sentences** (EmoDB, one speaker at a time): three neutral sentences
   of the speaker, then a test sentence (angry, neutral or bored), all four set to
   the same active RMS (-26 dBFS; what AGC does), 0.8 s apart, band-limited to
   300-3400 Hz at 8 kHz and mu-law encoded and decoded.  The front end runs over
   it as one channel (``--speaker customer``; ``call`` runs the mono path).  A
   test sentence is *caught* / *flagged* when a ``raised_voice`` is detected
   between its start and 0.3 s after its end.  Each test sentence is tried with
   ``--contexts`` different triples of the speaker's other neutral sentences.
   Printed per speaker: angry caught, neutral flagged, bored flagged, any flag
   during the three neutral context sentences, and the delay from the test
   sentence's start to the event.  The data set is not in the repository
   (``--data``, default ``../shared/data/emodb-dev``).

2. **Leave one speaker out**: for each speaker, the effort onset is picked on the
   *other* speakers alone (the lowest onset on a grid at which at most 5 % of
   their calm sentences, neutral and bored, are flagged), and that speaker's
   figures are shown at it, next to the shipped default, so a default that only
   fits these five voices shows.

3. **Calm mono calls** (must give 0 raised-voice events): the fixtures with their
   loud stretches cut out, and dialogues of two EmoDB speakers taking turns with
   neutral and bored sentences, the second party 12 dB louder than the first;
   each mixed to mono, band-limited, mu-law coded, once levelled by a simple AGC
   and once not (``benchmarks/_telephone.py``).  The baseline figure is the same
   calls through the level-only detector (effort off, so one baseline for the
   channel as before), measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calls import FIXTURES, ROOT, decode  # noqa: E402
from _telephone import SR, set_rms, telephone  # noqa: E402

from audio.frames import FRAME_SAMPLES, to_int16  # noqa: E402
from audio.frontend import FrontEnd, FrontEndParams  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "emodb-dev"
LEVEL_DBFS = -26.0
GAP_S = 0.8
NOISE_DBFS = -65.0
GRID = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 3.0)
EMOTIONS = {"W": "angry", "N": "neutral", "L": "bored"}


def load_emodb(folder: Path) -> dict[str, dict[str, list[np.ndarray]]]:
    """speaker -> emotion letter -> clips (16 kHz float)."""
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    files = sorted(folder.glob("de_emodb_*.wav"))
    if not files:
        sys.exit(f"no EmoDB clips in {folder} (give the folder with --data)")
    for path in files:
        code = path.stem[len("de_emodb_"):]
        speaker, emotion = code[:2], code[5]
        with wave.open(str(path)) as w:
            if w.getframerate() != SR or w.getsampwidth() != 2 or w.getnchannels() != 1:
                sys.exit(f"{path}: expected 16 kHz 16-bit mono")
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768.0
        out.setdefault(speaker, {}).setdefault(emotion, []).append(x)
    return out


def run_frontend(x: np.ndarray, speakers: tuple[str, ...], params: FrontEndParams) -> list:
    n = len(x) // FRAME_SAMPLES * FRAME_SAMPLES
    pcm = to_int16(x[:n])[None, :]
    fe = FrontEnd(speakers, params)
    step = SR // 2 // FRAME_SAMPLES * FRAME_SAMPLES
    facts = []
    for start in range(0, n, step):
        facts += fe.process(pcm[:, start:start + step])
    return facts + fe.finish()


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10 ** (NOISE_DBFS / 20), n)


def trial(context: list[np.ndarray], test: np.ndarray, speaker: str,
          params: FrontEndParams) -> tuple[bool, bool, float | None]:
    """(test flagged, a context sentence flagged, delay from test start to event)."""
    gap = np.zeros(int(GAP_S * SR))
    parts, spans, t = [np.zeros(SR // 2)], [], 0.5
    for clip in context + [test]:
        clip = set_rms(clip, LEVEL_DBFS)
        parts += [clip, gap]
        spans.append((t, t + len(clip) / SR))
        t += len(clip) / SR + GAP_S
    x = np.concatenate(parts)
    x = telephone(x + noise(len(x), len(x)))
    raised = [f for f in run_frontend(x, (speaker,), params) if f.kind == "raised_voice"]
    t0, t1 = spans[-1]
    hits = [f.data["t_detected"] for f in raised if t0 <= f.data["t_detected"] <= t1 + 0.3]
    in_context = any(f.data["t_detected"] < t0 for f in raised)
    return bool(hits), in_context, (min(hits) - t0) if hits else None


def sentence_results(data, speaker: str, contexts: int, params: FrontEndParams) -> dict:
    """speaker -> emotion -> list of (flagged, context flagged, delay)."""
    out: dict[str, dict[str, list]] = {}
    for spk, by in sorted(data.items()):
        neutral = by.get("N", [])
        for emo in EMOTIONS:
            for k, clip in enumerate(by.get(emo, [])):
                others = [c for c in neutral if c is not clip]
                triples = list(itertools.combinations(range(len(others)), 3))
                step = max(1, len(triples) // contexts)
                for tri in triples[(k * 7) % step::step][:contexts]:
                    res = trial([others[c] for c in tri], clip, speaker, params)
                    out.setdefault(spk, {}).setdefault(emo, []).append(res)
    return out


def rate(rows: list, col: int = 0) -> float:
    return 100.0 * sum(1 for r in rows if r[col]) / len(rows) if rows else float("nan")


def with_onset(params: FrontEndParams, onset: float) -> FrontEndParams:
    rv = params.raised_voice
    return replace(params, raised_voice=replace(rv, effort=replace(rv.effort, onset=onset)))


def print_sentences(res: dict) -> None:
    print(f"{'speaker':8} {'angry caught':>13} {'neutral flagged':>16} {'bored flagged':>14} "
          f"{'context flagged':>16} {'delay median/max':>17}")
    tot: dict[str, list] = {}
    for spk, by in res.items():
        delays = [r[2] for r in by.get("W", []) if r[2] is not None]
        ctx = [r for rows in by.values() for r in rows]
        print(f"{spk:8} {rate(by.get('W', [])):12.0f}% {rate(by.get('N', [])):15.0f}% "
              f"{rate(by.get('L', [])):13.0f}% {rate(ctx, 1):15.0f}% "
              + (f"{np.median(delays):9.2f}/{max(delays):.2f} s" if delays else "        -"))
        for emo, rows in by.items():
            tot.setdefault(emo, []).extend(rows)
    allrows = [r for rows in tot.values() for r in rows]
    print(f"{'all':8} {rate(tot.get('W', [])):12.0f}% {rate(tot.get('N', [])):15.0f}% "
          f"{rate(tot.get('L', [])):13.0f}% {rate(allrows, 1):15.0f}%")


def leave_one_out(data, speaker: str, contexts: int, params: FrontEndParams) -> None:
    grid = {v: sentence_results(data, speaker, contexts, with_onset(params, v)) for v in GRID}
    default = params.raised_voice.effort.onset
    print(f"\nleave one speaker out (onset picked on the other speakers: lowest with "
          f"<= 5 % of their neutral and bored sentences flagged; shipped default {default:g})")
    print(f"{'held out':8} {'picked':>7} {'angry caught':>13} {'neutral flagged':>16} "
          f"{'bored flagged':>14}")
    caught, flagged, bored = [], [], []
    for spk in sorted(data):
        pick = GRID[-1]
        for v in GRID:
            calm = [r for s, by in grid[v].items() if s != spk
                    for r in by.get("N", []) + by.get("L", [])]
            if rate(calm) <= 5.0:
                pick = v
                break
        by = grid[pick][spk]
        caught += by.get("W", [])
        flagged += by.get("N", [])
        bored += by.get("L", [])
        print(f"{spk:8} {pick:7.1f} {rate(by.get('W', [])):12.0f}% {rate(by.get('N', [])):15.0f}% "
              f"{rate(by.get('L', [])):13.0f}%")
    print(f"{'all':8} {'':7} {rate(caught):12.0f}% {rate(flagged):15.0f}% {rate(bored):13.0f}%")


def calm_fixture(name: str) -> np.ndarray:
    """A fixture mixed to mono, with its loud stretches cut out."""
    x = decode(FIXTURES / f"{name}.flac").mean(axis=0).astype(np.float64)
    truth = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    keep = np.ones(len(x), bool)
    for s in truth["events"]["raised_voice"]:
        keep[int((s["start"] - 0.3) * SR):int((s["end"] + 0.3) * SR)] = False
    return x[keep]


def calm_dialogue(a: list[np.ndarray], b: list[np.ndarray], seed: int) -> np.ndarray:
    """Two speakers taking turns (neutral and bored sentences); the one who starts
    is 12 dB under the other, so a single baseline learned on the first would
    judge the second as raised."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(SR // 2)]
    for k in range(max(len(a), len(b))):
        for clips, level in ((a, -32.0), (b, -20.0)):
            if k < len(clips):
                parts += [set_rms(clips[k], level), np.zeros(int(rng.uniform(0.35, 0.9) * SR))]
    return np.concatenate(parts)


def calm_calls(data) -> list[tuple[str, np.ndarray]]:
    calls = [(f"fixture {n}", calm_fixture(n)) for n in ("calm", "escalation", "mono", "telephone_8k")]
    if data:
        for s1, s2 in (("09", "10"), ("11", "13"), ("12", "09"), ("13", "10"), ("11", "12")):
            if s1 in data and s2 in data:
                a = data[s1].get("N", []) + data[s1].get("L", [])
                b = data[s2].get("N", []) + data[s2].get("L", [])
                calls.append((f"EmoDB {s1}+{s2}", calm_dialogue(a, b, int(s1 + s2))))
    return calls


def print_calm(data, params: FrontEndParams) -> None:
    level_only = replace(params, raised_voice=replace(
        params.raised_voice, effort=replace(params.raised_voice.effort, enabled=False)))
    print("\ncalm mono calls (mono mix, 8 kHz, mu-law; with and without AGC): raised-voice "
          "events (goal 0);\nbaseline: the level-only detector (effort off, one baseline), "
          "same run")
    print(f"{'call':20} {'minutes':>7} {'AGC: effort':>12} {'level only':>11} "
          f"{'no AGC: effort':>15} {'level only':>11}")
    total = [0, 0, 0, 0]
    for k, (name, x) in enumerate(calm_calls(data)):
        x = x + noise(len(x), k)
        counts = []
        for use_agc in (True, False):
            y = telephone(x, use_agc=use_agc)
            counts += [sum(1 for f in run_frontend(y, ("call",), p) if f.kind == "raised_voice")
                       for p in (params, level_only)]
        total = [a + b for a, b in zip(total, counts)]
        print(f"{name:20} {len(x) / SR / 60:7.2f} {counts[0]:12d} {counts[1]:11d} "
              f"{counts[2]:15d} {counts[3]:11d}")
    print(f"{'all':20} {'':7} {total[0]:12d} {total[1]:11d} {total[2]:15d} {total[3]:11d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="EmoDB folder")
    ap.add_argument("--contexts", type=int, default=3, help="neutral triples per test sentence")
    ap.add_argument("--speaker", default="customer", choices=("customer", "call"))
    ap.add_argument("--skip-loso", action="store_true", help="skip the leave-one-out grid")
    args = ap.parse_args()
    params = FrontEndParams()
    data = load_emodb(args.data)
    print(f"levelled sentences: three neutral then a test sentence at {LEVEL_DBFS:g} dBFS, "
          f"8 kHz mu-law; speaker {args.speaker!r}; effort onset "
          f"{params.raised_voice.effort.onset:g}")
    print_sentences(sentence_results(data, args.speaker, args.contexts, params))
    if not args.skip_loso:
        leave_one_out(data, args.speaker, args.contexts, params)
    print_calm(data, params)
    print(f"\nreproduce: .venv/bin/python benchmarks/effort.py --data {args.data} "
          f"--contexts {args.contexts} --speaker {args.speaker}"
          + (" --skip-loso" if args.skip_loso else ""))


if __name__ == "__main__":
    main()
