"""Word error rate of the live pipeline against plain faster-whisper on the same
audio, per language.

    .venv/bin/python benchmarks/wer.py [--emodb DIR] [--limit N] [--fixtures calm,escalation]

Clips:
- German: the EmoDB sentences in ``--emodb`` (default ``/work/shared/data/emodb-dev``,
  if present; not part of the repository): ten known sentences, each spoken by
  several speakers in anger, boredom and a neutral voice, about 2 s each;
- English: every ground-truth segment of the fixtures (``fixtures/*.json``), cut
  from its own channel.

Each clip is laid in a short stretch of call audio (0.5 s before, 1.0 s after,
with the fixtures' -65 dBFS noise floor) and given, identically, to:

1. **pipeline**: the live path of ``calmline live`` in-process: front end, VAD,
   endpointer (pre-roll and tail), the live transcription stage and its worker,
   with the live engine (short encoder context, beam 1, token cap, the
   hallucination filter); the language fixed (the clip's language);
2. **pipeline, 30 s**: the same, with the encoder context forced to 30 s (what it
   did before), to show what the short context itself changes;
3. **plain faster-whisper**: ``model.transcribe(clip, language=L)`` with its own
   defaults (30 s context, beam 5, temperature fallback): the baseline;
4. **plain, greedy**: the same with live decoding options (beam 1, temperature 0).

WER = (substitutions + deletions + insertions) / reference words, summed over the
clips of a language, after folding case and punctuation (English digits and
number words compare equal).  The goal: pipeline WER <= 1.1 x plain WER per
language.  Also printed: the encoder time per model call (short against 30 s) and,
with ``--auto``, how often language detection on the short context picked the
clip's language.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from _calls import FIXTURES, as_model_input, decode, load_model

from audio.channels import map_channels  # noqa: E402
from audio.frames import SAMPLE_RATE  # noqa: E402
from monitor.asr import short_context  # noqa: E402
from monitor.asr.engine import WhisperEngine  # noqa: E402
from monitor.asr.transcription import TranscriptionStage  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.event_bus import EventBus  # noqa: E402
from monitor.pipeline import CallInfo, CallPipeline  # noqa: E402

EMODB = Path("/work/shared/data/emodb-dev")
#: The ten EmoDB sentences, by text code (Burkhardt et al., 2005).
EMODB_TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
NUMBERS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
           "six": "6", "seven": "7", "eight": "8", "nine": "9"}
LEAD_S, TRAIL_S = 0.5, 1.0


def words(text: str) -> list[str]:
    out = []
    for w in re.findall(r"[\w']+", text.lower()):
        w = NUMBERS.get(w, w)
        out += list(w) if w.isdigit() else [w]
    return out


def edits(ref: list[str], hyp: list[str]) -> int:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)]


def in_call(clip: np.ndarray, seed: int) -> np.ndarray:
    """The clip with a little call audio around it (the fixtures' noise floor)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), clip.astype(np.float32),
                        np.zeros(int(TRAIL_S * SAMPLE_RATE), np.float32)])
    x = x + rng.normal(0.0, 10 ** (-65 / 20), len(x)).astype(np.float32)
    return as_model_input(np.clip(x, -1.0, 1.0))


def emodb_clips(folder: Path, limit: int) -> tuple[list[tuple[str, str, np.ndarray, str]], int]:
    """The complete sentences (the clips are cut at 2.0 s: one still loud in its
    last 100 ms lost words the reference has) and how many were cut."""
    out, cut = [], 0
    for f in sorted(folder.glob("de_emodb_*.wav")):
        code = f.stem.split("_")[-1][2:5]
        x = decode(f)[0]
        if code not in EMODB_TEXTS:
            continue
        if np.abs(x[-SAMPLE_RATE // 10:]).max() > 0.03 * max(1e-9, float(np.abs(x).max())):
            cut += 1
            continue
        out.append((f.name, "de", x, EMODB_TEXTS[code]))
    if limit and len(out) > limit:
        out = out[::max(1, len(out) // limit)][:limit]
    return out, cut


def fixture_clips(names: list[str]) -> list[tuple[str, str, np.ndarray, str]]:
    out = []
    for name in names:
        truth = json.loads((FIXTURES / f"{name}.json").read_text())
        pcm = decode(FIXTURES / truth["file"])
        for k, seg in enumerate(truth["segments"]):
            ch = truth["channel_map"].index(seg["speaker"])
            a, b = int(seg["start"] * SAMPLE_RATE), int(seg["end"] * SAMPLE_RATE)
            out.append((f"{name}#{k}", "en", pcm[ch, a:b], seg["text"]))
    return out


class ArraySource:
    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def blocks(self):
        for start in range(0, len(self.x), 1600):
            yield self.x[None, start:start + 1600]


class CountingEngine(WhisperEngine):
    """The live engine, counting model calls and how many needed the full context."""

    calls = 0
    full = 0

    def transcribe(self, samples, language, beam_size, fallback=None, **kw):
        tr = super().transcribe(samples, language, beam_size, fallback, **kw)
        self.calls += 1
        self.full += tr is not None and tr.full_context
        return tr


def with_language(cfg, language: str):
    """The settings with this language fixed (German too, which calmline's
    playbooks do not cover, so the settings file refuses it), and no age limit."""
    # no age limit: this measures words, not timing (a busy machine must not drop any)
    tr = cfg.transcription.model_copy(update={"language": language, "max_age_s": 60.0})
    return cfg.model_copy(update={"transcription": tr})


def pipeline_text(cfg, engine, x: np.ndarray) -> tuple[str, list[str]]:
    """Run the clip through the live pipeline; its utterances' text and languages."""
    cmap = map_channels(1, ("customer",))
    bus = EventBus("wer")
    utts: list = []
    bus.subscribe(lambda e: utts.append(e) if e.type == "utterance" else None)
    stage = TranscriptionStage(bus, cmap.speakers, engine, cfg.transcription, cfg.endpointing,
                               cfg.vad, live=True)
    CallPipeline(cfg, bus, CallInfo("wer", SAMPLE_RATE, 1, cmap), [stage]).run(ArraySource(x))
    return " ".join(u["text"] for u in utts), [u["language"] for u in utts]


def plain_text(model, x: np.ndarray, language: str, **opts) -> str:
    segments, _ = model.transcribe(x, language=language, condition_on_previous_text=False,
                                   vad_filter=False, **opts)
    return " ".join(s.text.strip() for s in segments)


def encoder_seconds(model, x: np.ndarray, context_s: float, n: int = 3) -> float:
    short = short_context.ShortContextWhisper(model)
    feats = model.feature_extractor(x)[:, :-1]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        short._encode(feats, context_s)
        times.append(time.perf_counter() - t0)
    return sorted(times)[n // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emodb", type=Path, default=EMODB, help="EmoDB folder (German; optional)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many EmoDB clips "
                    "(spread over the folder); 0 = all")
    ap.add_argument("--fixtures", default="calm,escalation", help="English fixtures, comma-separated")
    ap.add_argument("--auto", action="store_true", help="also run the pipeline with --language auto")
    ap.add_argument("--show", action="store_true", help="print every clip's transcripts")
    ap.add_argument("--preroll-ms", type=int, default=None, help="override endpointing.preroll_ms")
    ap.add_argument("--tail-ms", type=int, default=None, help="override endpointing.tail_ms")
    ap.add_argument("--systems", default=None, help="only these systems, comma-separated")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]

    clips = fixture_clips([n for n in args.fixtures.split(",") if n])
    cut = 0
    if args.emodb.is_dir():
        german, cut = emodb_clips(args.emodb, args.limit)
        clips += german
    else:
        print(f"(no EmoDB folder at {args.emodb}: English only)")
    cfg0 = load_config(None, {"endpointing": {"preroll_ms": args.preroll_ms, "tail_ms": args.tail_ms}})
    model = load_model(cfg0)
    systems = ("pipeline", "pipeline_30s", "plain", "plain_greedy") + (("auto",) if args.auto else ())
    if args.systems:
        systems = tuple(x for x in systems if x in args.systems.split(","))
    tot: dict[str, dict[str, list[int]]] = {}
    detect_ok: dict[str, list[int]] = {}
    engines = {}
    for name, lang, clip, ref in clips:
        x = in_call(clip, seed=len(ref))
        cfg = with_language(cfg0, lang)
        if not engines:
            engines["short"] = CountingEngine(model, cfg.transcription.max_new_tokens, short_context=True)
            engines["full"] = CountingEngine(model, cfg.transcription.max_new_tokens, short_context=False)
        run = {
            "pipeline": lambda: pipeline_text(cfg, engines["short"], x)[0],
            "pipeline_30s": lambda: pipeline_text(cfg, engines["full"], x)[0],
            "plain": lambda: plain_text(model, x, lang),
            "plain_greedy": lambda: plain_text(model, x, lang, beam_size=1, temperature=0.0),
        }
        hyp = {name: fn() for name, fn in run.items() if name in systems}
        if args.auto:
            auto_cfg = with_language(cfg0, "auto")
            hyp["auto"], langs = pipeline_text(auto_cfg, engines["short"], x)
            detect_ok.setdefault(lang, [0, 0])
            detect_ok[lang][0] += sum(lg == lang for lg in langs)
            detect_ok[lang][1] += len(langs)
        r = words(ref)
        for system in systems:
            e = edits(r, words(hyp[system]))
            tot.setdefault(lang, {}).setdefault(system, [0, 0])
            tot[lang][system][0] += e
            tot[lang][system][1] += len(r)
        if args.show:
            print(f"{name} [{lang}] ref: {ref}")
            for system in systems:
                print(f"   {system:13} {hyp[system]}")

    print(f"clips: {len(clips)} ({', '.join(f'{lg}: {sum(c[1] == lg for c in clips)}' for lg in tot)}); "
          f"each in {LEAD_S:g} s + clip + {TRAIL_S:g} s of call audio"
          + (f"; {cut} EmoDB clips left out (cut off mid-sentence at 2.0 s)" if cut else ""))
    print(f"{'language':8} {'words':>6} " + " ".join(f"{s:>13}" for s in systems)
          + "   pipeline/plain  (goal <= 1.10)")
    for lang, by in tot.items():
        rates = {s: by[s][0] / max(1, by[s][1]) for s in systems}
        line = f"{lang:8} {by[systems[0]][1]:6d} " + " ".join(f"{rates[s]:13.3f}" for s in systems)
        if "pipeline" in rates and "plain" in rates:
            ratio = 1.0 if rates["pipeline"] == rates["plain"] else (
                rates["pipeline"] / rates["plain"] if rates["plain"] else float("inf"))
            line += f"   {ratio:.2f}" + ("" if ratio <= 1.1 else "  OVER THE GOAL")
        print(line)
    short = engines["short"]
    print(f"live engine: {short.calls} model calls, {short.full} redone with the full context "
          f"(ran into the token cap)")
    for lang, (ok, n) in detect_ok.items():
        print(f"language auto on the short context: {lang} detected for {ok} of {n} utterances")
    probe = in_call(clips[0][2], seed=1)
    for ctx in (short_context.context_seconds(len(probe) / SAMPLE_RATE), 30.0):
        print(f"encoder time, {len(probe) / SAMPLE_RATE:.1f} s clip in a {ctx:g} s context: "
              f"{encoder_seconds(model, probe, ctx):.3f} s (median of 3)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load0:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end")
    cmd = ".venv/bin/python benchmarks/wer.py"
    if args.emodb != EMODB:
        cmd += f" --emodb {args.emodb}"
    if args.limit:
        cmd += f" --limit {args.limit}"
    if args.fixtures != "calm,escalation":
        cmd += f" --fixtures {args.fixtures}"
    if args.auto:
        cmd += " --auto"
    for flag, value in (("--preroll-ms", args.preroll_ms), ("--tail-ms", args.tail_ms),
                        ("--systems", args.systems)):
        if value is not None:
            cmd += f" {flag} {value}"
    print(f"reproduce: {cmd}")


if __name__ == "__main__":
    sys.exit(main())
