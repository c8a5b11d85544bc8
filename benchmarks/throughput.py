"""Replay throughput: a ~3-minute stereo call through the whole pipeline (replay
mode: front end, endpointing, one model call per utterance) against plain
faster-whisper on both channels, same model instance, same run.

    .venv/bin/python benchmarks/throughput.py [--repeat 1] [--language en]

The call is escalation + calm + escalation (188 s), written to a temporary FLAC.
The baseline decodes that file and runs ``model.transcribe(channel,
vad_filter=True, ...)`` on each channel with the decoding options the pipeline
uses in replay (:data:`LIKE_FOR_LIKE`: the same beam size, temperature 0 with no
fallback, no conditioning on previous text, word timestamps), consuming the
segments; its time is the sum of both channels plus the decoding.  (With
faster-whisper's defaults instead, i.e. temperature fallback and conditioning, the
baseline does different work and the ratio flatters the pipeline: 1.07 measured
that way against 1.59 like for like.)  The pipeline is timed from opening the file
to the summary.  Two pairs are timed, each pipeline against a baseline with its
own beam size:

- default config: ``replay_beam_size = 5``;
- ``replay_beam_size = 1`` (config override).

Also counts the model's encoder passes (each a full 30-second window, however
short the audio in it): the pipeline makes one per utterance, faster-whisper's
VAD path packs speech into 30 s windows.

Prints each time (best of --repeat, runs interleaved), the ratios pipeline /
plain (goal <= 1.1) and the real-time factors (processing time / audio time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _calls import decode, fixture, load_model, tiled, write_flac

from audio.channels import map_channels  # noqa: E402
from audio.file_source import FileSource  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.event_bus import EventBus  # noqa: E402
from monitor.pipeline import CallInfo, CallPipeline  # noqa: E402
from monitor.asr.transcription import TranscriptionStage  # noqa: E402
from monitor.asr.engine import WhisperEngine  # noqa: E402


class EncoderCount:
    """Counts the model's encoder passes (one per 30 s window it decodes) by
    wrapping ``WhisperModel.encode`` on this one instance."""

    def __init__(self, model) -> None:
        self.n = 0
        original = model.encode

        def encode(features):
            self.n += 1
            return original(features)

        model.encode = encode

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


def make_call(path: Path) -> float:
    esc, calm = decode(fixture("escalation")), decode(fixture("calm"))
    seconds = (2 * esc.shape[1] + calm.shape[1]) / 16000
    return write_flac(path, tiled([esc, calm, esc], seconds), channels=2)


def run_pipeline(path: Path, model, overrides: dict) -> tuple[float, dict]:
    cfg = load_config(None, overrides)
    t0 = time.perf_counter()
    source = FileSource(path)                                   # as `calmline replay`, unpaced
    cmap = map_channels(source.info.channels, cfg.channel_mapping)
    bus = EventBus(path.stem)
    stage = TranscriptionStage(bus, cmap.speakers,
                               WhisperEngine(model, cfg.transcription.max_new_tokens),
                               cfg.transcription, cfg.endpointing, cfg.vad, live=False)
    pipeline = CallPipeline(cfg, bus, CallInfo(str(path), source.info.input_rate,
                                               source.info.channels, cmap), [stage])
    summary = pipeline.run(source)
    return time.perf_counter() - t0, summary


#: faster-whisper options that match what the pipeline's replay windows decode with.
LIKE_FOR_LIKE = dict(temperature=0.0, condition_on_previous_text=False, word_timestamps=True)


def run_plain(path: Path, model, language: str, beam: int) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    pcm = decode(path)
    segments = words = 0
    for ch in pcm:
        segs, _ = model.transcribe(ch, vad_filter=True, language=language, beam_size=beam,
                                   **LIKE_FOR_LIKE)
        for s in segs:
            segments += 1
            words += len(s.text.split())
    return time.perf_counter() - t0, segments, words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best time of each is kept")
    ap.add_argument("--language", default="en")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]

    base = {"transcription": {"language": args.language}}
    beam1 = {"transcription": {"language": args.language, "replay_beam_size": 1}}
    model = load_model(load_config(None, base))
    encoder = EncoderCount(model)
    with tempfile.TemporaryDirectory(prefix="calmline-bench-") as tmp:
        path = Path(tmp) / "call-3min.flac"
        audio_s = make_call(path)
        # warm-up: lazy initialisation belongs to neither side
        segs, _ = model.transcribe(decode(fixture("calm"))[0][:32000], language=args.language)
        list(segs)
        encoder.take()
        pipe5, plain, pipe1, plain1 = [], [], [], []
        for _ in range(args.repeat):          # interleaved, so all see the same machine load
            dt, s5 = run_pipeline(path, model, base)
            pipe5.append(dt)
            enc5 = encoder.take()
            dt, n_segs, n_words = run_plain(path, model, args.language, 5)
            plain.append(dt)
            enc_plain = encoder.take()
            dt, s1 = run_pipeline(path, model, beam1)
            pipe1.append(dt)
            enc1 = encoder.take()
            dt, _, _ = run_plain(path, model, args.language, 1)
            plain1.append(dt)
            encoder.take()

    p5, pl, p1, pl1 = min(pipe5), min(plain), min(pipe1), min(plain1)

    def words(summary: dict) -> int:
        return sum(v["words"] for v in summary["speakers"].values())

    t5, t1 = s5["transcription"], s1["transcription"]
    print(f"call: {audio_s:.1f} s stereo (escalation + calm + escalation), language {args.language}, "
          f"best of {args.repeat}")
    print(f"pipeline, replay_beam_size=5 (default): {p5:7.2f} s  RTF {p5 / audio_s:.3f}  "
          f"({t5['utterances']} utterances, {words(s5)} words, model time {t5['asr_seconds']:.2f} s, "
          f"{enc5} encoder passes)")
    print(f"plain faster-whisper, beam 5, VAD on:   {pl:7.2f} s  RTF {pl / audio_s:.3f}  "
          f"({n_segs} segments, {n_words} words, {enc_plain} encoder passes; both channels + decoding)")
    print(f"pipeline, replay_beam_size=1:           {p1:7.2f} s  RTF {p1 / audio_s:.3f}  "
          f"({t1['utterances']} utterances, {words(s1)} words, model time {t1['asr_seconds']:.2f} s, "
          f"{enc1} encoder passes)")
    print(f"plain faster-whisper, beam 1, VAD on:   {pl1:7.2f} s  RTF {pl1 / audio_s:.3f}")
    print(f"baseline options (both beams): {LIKE_FOR_LIKE}")
    print(f"ratio pipeline(beam 5) / plain(beam 5): {p5 / pl:.2f}  (goal <= 1.1)")
    print(f"ratio pipeline(beam 1) / plain(beam 1): {p1 / pl1:.2f}  (goal <= 1.1)")
    if args.repeat > 1:
        fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        print(f"all runs: pipeline beam 5 [{fmt(pipe5)}], plain beam 5 [{fmt(plain)}], "
              f"pipeline beam 1 [{fmt(pipe1)}], plain beam 1 [{fmt(plain1)}]")
    print(f"machine: {os.cpu_count()} CPUs, load average {load0:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end (other work on the machine skews the figures)")
    print(f"reproduce: .venv/bin/python benchmarks/throughput.py --repeat {args.repeat} "
          f"--language {args.language}")


if __name__ == "__main__":
    main()
