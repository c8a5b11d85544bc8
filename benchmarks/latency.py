"""Live transcription latency: a fixture replayed at 1x through the real pipeline
with the transcriber in live mode (worker thread, bounded queue, partials), against
a bare faster-whisper call on the same audio, measured in the same run.

    .venv/bin/python benchmarks/latency.py [--fixture escalation] [--language en]

This is what ``calmline replay FIXTURE --realtime --events FILE --language en``
does, built in-process so one loaded model serves both halves.

For each ``utterance`` event the lag is ``wall - t_end``: seconds from the end of
the speech (audio time; the stream is paced at 1x, so audio time is wall time)
to the event.  Afterwards, with the replay finished (so the two never compete for
the CPU), every utterance's audio is sliced from the decoded channel
(``t - pre-roll`` to ``t_end + tail``, as the endpointer cuts it) and timed through
a bare ``model.transcribe()`` with live mode's decoding options, segments consumed
(faster-whisper's own 30 s context: the live engine encodes a shorter one, see
``monitor/asr/short_context.py``, so its calls can be cheaper than the bare ones).

Prints p50/p95 of both, the ratios p95(lag)/p95(bare) (goal <= 1.3) and
p50(lag)/p50(bare), and the live stage's counters.  The lag necessarily includes
the endpointer's end-of-speech wait (``end_silence_ms``, 500 ms by default),
which no model call can remove; the lag without that wait is printed as well.
A wrapper around the engine records each live model call, splitting every lag
into "t_end to the start of its call" (the wait, plus any time the worker was
busy, e.g. with a partial) and the live call itself.  A fixed bare call is timed
before and after the replay, to show whether the machine's load changed between
the two halves.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _calls import ROOT, as_model_input, decode, fixture, load_model, pct

from audio.channels import map_channels  # noqa: E402
from audio.file_source import FileSource  # noqa: E402
from audio.frames import SAMPLE_RATE  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.event_bus import EventBus  # noqa: E402
from monitor.pipeline import CallInfo, CallPipeline  # noqa: E402
from monitor.sinks import JsonlSink  # noqa: E402
from monitor.asr.transcription import TranscriptionStage  # noqa: E402
from monitor.asr.engine import WhisperEngine  # noqa: E402


def bare_options(language: str, max_new_tokens: int) -> dict:
    """Live mode's decoding options (see monitor/whisper_engine.py)."""
    return dict(language=language, beam_size=1, temperature=0.0,
                condition_on_previous_text=False, without_timestamps=True,
                vad_filter=False, max_new_tokens=max_new_tokens)


class TimedEngine:
    """The live engine, recording when each model call started and ended (bus wall
    clock), so a lag can be split into waiting and decoding."""

    def __init__(self, engine: WhisperEngine, bus: EventBus) -> None:
        self.engine, self.bus = engine, bus
        self.calls: list[tuple[float, float, int]] = []      # (start, end, samples)

    def transcribe(self, samples, language, beam_size, *args, **kw):
        start = self.bus.wall()
        try:
            return self.engine.transcribe(samples, language, beam_size, *args, **kw)
        finally:
            self.calls.append((start, self.bus.wall(), len(samples)))


def probe(model, clip, opts: dict, n: int = 3) -> float:
    """Median time of ``n`` bare calls on a fixed clip."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        segments, _ = model.transcribe(clip, **opts)
        for _ in segments:
            pass
        times.append(time.perf_counter() - started)
    return sorted(times)[n // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixture", default="escalation", help="fixture name or audio file")
    ap.add_argument("--language", default="en")
    ap.add_argument("--events", default=None, metavar="FILE",
                    help="also write the replay's events as JSON lines to FILE")
    ap.add_argument("--no-warmup", action="store_true",
                    help="do not run one model call before the replay")
    ap.add_argument("--partial-after-s", type=float, default=None,
                    help="override transcription.partial_after_s (30 = no partials, since "
                    "utterances are split at 15 s); default: the configured value")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]

    path = fixture(args.fixture)
    cfg = load_config(None, {"transcription": {"language": args.language,
                                               "partial_after_s": args.partial_after_s}})
    model = load_model(cfg)
    engine = WhisperEngine(model, cfg.transcription.max_new_tokens, short_context=True,
                           language_confidence=cfg.transcription.language_confidence)
    pcm = decode(path)
    opts = bare_options(args.language, cfg.transcription.max_new_tokens)
    if not args.no_warmup:   # lazy initialisation belongs to neither side
        engine.transcribe(as_model_input(pcm[0, :SAMPLE_RATE * 2]), args.language, 1)
    # The two halves cannot run at once, so a fixed call is timed before and after
    # the replay: if those differ, the machine's load changed in between.
    probe_clip = as_model_input(pcm[0, :SAMPLE_RATE * 5])
    probe_before = probe(model, probe_clip, opts)

    # --- 1. the realtime replay, live transcription ---------------------------
    source = FileSource(path, chunk_seconds=0.1)            # as `calmline replay --realtime`
    cmap = map_channels(source.info.channels, cfg.channel_mapping)
    bus = EventBus(path.stem)
    events: list = []
    bus.subscribe(events.append)
    sink = JsonlSink(args.events) if args.events else None
    if sink is not None:
        bus.subscribe(sink)
    timed = TimedEngine(engine, bus)
    stage = TranscriptionStage(bus, cmap.speakers, timed, cfg.transcription,
                               cfg.endpointing, cfg.vad, live=True)
    pipeline = CallPipeline(cfg, bus, CallInfo(str(path), source.info.input_rate,
                                               source.info.channels, cmap), [stage])
    t0 = time.perf_counter()
    summary = pipeline.run(source, realtime=True)
    replay_wall = time.perf_counter() - t0
    if sink is not None:
        sink.close()
    utts = [e for e in events if e.type == "utterance"]
    if not utts:
        sys.exit("no utterance events: nothing to measure")
    lags = [e.wall - e["t_end"] for e in utts]
    # the call that made each utterance: the last one to end before it was emitted
    made = [max((c for c in timed.calls if c[1] <= e.wall), key=lambda c: c[1]) for e in utts]
    live_call = [c[1] - c[0] for c in made]
    before_call = [c[0] - e["t_end"] for c, e in zip(made, utts)]

    # --- 2. bare model calls on the same audio, after the replay ---------------
    pre = cfg.endpointing.preroll_ms / 1000
    tail = cfg.endpointing.tail_ms / 1000
    channel = {s: as_model_input(pcm[i]) for s, i in zip(cmap.speakers, cmap.indices)}
    bare: list[float] = []
    for e in utts:
        ch = channel[e.speaker]
        a = max(0, int(round((e.t - pre) * SAMPLE_RATE)))
        b = min(len(ch), int(round((e["t_end"] + tail) * SAMPLE_RATE)))
        started = time.perf_counter()
        segments, _ = model.transcribe(ch[a:b], **opts)
        for _ in segments:
            pass
        bare.append(time.perf_counter() - started)
    probe_after = probe(model, probe_clip, opts)

    # --- report ---------------------------------------------------------------
    tr = summary["transcription"]
    wait = cfg.endpointing.end_silence_ms / 1000
    audio_s = summary["duration"]
    print(f"call: {path.name}, {audio_s:.1f} s, replayed at 1x in {replay_wall:.1f} s wall, "
          f"live mode, language {args.language}, partials after "
          f"{cfg.transcription.partial_after_s:g} s every {cfg.transcription.partial_every_s:g} s")
    print("per utterance (s): lag = wall - t_end; 'to call' = t_end to the start of its model "
          "call; 'call' = that live call; 'bare' = the bare call afterwards")
    print(f"{'speaker':9} {'t':>6} {'t_end':>6} {'audio':>6} {'parts':>5} {'lag':>6} "
          f"{'to call':>7} {'call':>6} {'bare':>6}")
    for e, lag, w, c, b in zip(utts, lags, before_call, live_call, bare):
        print(f"{e.speaker:9} {e.t:6.2f} {e['t_end']:6.2f} {e['t_end'] - e.t + pre + tail:6.2f} "
              f"{e.get('parts', 1):5d} {lag:6.2f} {w:7.2f} {c:6.2f} {b:6.2f}")
    print(f"utterances {len(utts)} (summary: {tr['utterances']}), merged {tr['merged']}, "
          f"skipped {tr['skipped']}, partials {tr['partials']} "
          f"(partials_skipped {tr['partials_skipped']}), rejected {sum(tr['rejected'].values())}, "
          f"backlog_max {tr['backlog_max']}")
    print(f"lag  (wall - t_end):  p50 {pct(lags, 50):6.3f} s   p95 {pct(lags, 95):6.3f} s   "
          f"max {max(lags):6.3f} s")
    print(f"bare transcribe():    p50 {pct(bare, 50):6.3f} s   p95 {pct(bare, 95):6.3f} s   "
          f"max {max(bare):6.3f} s   (beam 1, temperature 0, no timestamps, no VAD)")
    print(f"live call (same audio, during the replay): p50 {pct(live_call, 50):6.3f} s   "
          f"p95 {pct(live_call, 95):6.3f} s   ratio to bare p50 {pct(live_call, 50) / pct(bare, 50):.2f}")
    print(f"t_end to start of its call: p50 {pct(before_call, 50):6.3f} s   p95 {pct(before_call, 95):6.3f} s"
          f"   (end-of-speech wait {wait:.1f} s + pacing + waiting for the worker)")
    print(f"ratio p95(lag)/p95(bare): {pct(lags, 95) / pct(bare, 95):.2f}  (goal <= 1.3)")
    print(f"ratio p50(lag)/p50(bare): {pct(lags, 50) / pct(bare, 50):.2f}")
    less = [x - wait for x in lags]
    print(f"lag less the {wait * 1000:.0f} ms end-of-speech wait: p50 {pct(less, 50):6.3f} s   "
          f"p95 {pct(less, 95):6.3f} s   ratio p95 {pct(less, 95) / pct(bare, 95):.2f}, "
          f"p50 {pct(less, 50) / pct(bare, 50):.2f}")
    half = len(lags) // 2
    if half:
        print(f"lag drift: mean of first {half} {sum(lags[:half]) / half:.3f} s, "
              f"last {len(lags) - half} {sum(lags[half:]) / (len(lags) - half):.3f} s")
    spec = tr.get("speculative_finals", {})
    print(f"speculative finals: {spec.get('made', 0)} made, {spec.get('used', 0)} used as the final "
          f"(those finals needed no model call after the end wait, so 'to call' is not their delay)")
    print("pacing: the 1x replay feeds at most 100 ms at a time, each piece only once its last "
          "sample is due, as a live source would")
    drift = probe_after / probe_before
    print(f"load probe (median of 3 bare calls on a fixed 5 s clip): before the replay "
          f"{probe_before:.3f} s, after {probe_after:.3f} s"
          + ("" if 0.8 <= drift <= 1.25 else
             f"  -- differ by {abs(drift - 1) * 100:.0f}%: machine load changed, ratios unreliable"))
    print(f"live stage ASR time {tr['asr_seconds']:.2f} s for {audio_s:.1f} s of audio "
          f"(RTF {tr['real_time_factor']:.3f}, includes partials)")
    cmd = f".venv/bin/python benchmarks/latency.py --fixture {args.fixture} --language {args.language}"
    if args.no_warmup:
        cmd += " --no-warmup"
    if args.partial_after_s is not None:
        cmd += f" --partial-after-s {args.partial_after_s:g}"
    print(f"machine: {os.cpu_count()} CPUs, load average {load0:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end (other work on the machine skews the figures)")
    print(f"reproduce: {cmd}")
    print(f"same replay from the CLI: .venv/bin/calmline replay "
          f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} --realtime "
          f"--events FILE --language {args.language}")


if __name__ == "__main__":
    main()
