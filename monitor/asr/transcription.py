"""The transcription stage: endpointed utterances in, ``utterance`` events out.

One engine (one model) serves the call.  Two ways to run it:

- **replay** (``live=False``): in the pipeline's own thread, so the same file
  always gives the same transcript.  Utterances are packed per speaker into
  shared windows of up to ``replay_batch_s`` (one model call for several; see
  ``monitor/asr/replay_windows.py``) and the pipeline holds events until their
  utterances are transcribed, so the stream keeps the order a live call would
  have.  ``replay_batch_s = 0`` transcribes each utterance on its own instead.
- **live** (``live=True``, also ``--realtime`` replays): a worker thread owns the
  model and takes utterances from a bounded queue.  Policy when it falls behind:
  an utterance waiting behind another of the same speaker is *merged* into it
  (one model call instead of two, up to ``merge_max_s`` of audio); when the queue
  is full the *oldest* waiting utterance is *skipped*; partial transcripts are
  only made when the worker is otherwise idle.  Every merge, skip and rejection
  is counted in the summary.  Decoding uses beam size 1 and no fallback.

Partial results: while a speaker talks past ``partial_after_s``, the idle worker
transcribes the growing utterance (at most every ``partial_every_s`` of new
audio, and only while they are actually voicing: in a pause the final may be
moments away, and a partial in flight would delay it by a whole model call) and
emits ``utterance_partial`` with the words two successive hypotheses agree on;
the final ``utterance`` supersedes them.

Speculative finals (live): once a speaker has been silent for ``speculate_ms``
(300 ms) the idle worker transcribes the utterance as it stands; if it then ends
(at ``end_silence_ms``) with no more speech, its samples are exactly those
transcribed, and that transcript is used at once instead of a second model call.
If speech resumes, the speculation is simply dropped (counted).

Language: fixed when configured; with ``auto`` it is detected per speaker until
one utterance is recognised with probability >= ``language_confidence``, and
then fixed for that speaker.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from audio.endpointing import Endpointer, EndpointParams, Utterance
from audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from audio.frontend import FrontEnd
from audio.vad import VadParams
from monitor.asr.engine import Engine, Segment, Timed, Transcript, WhisperEngine
from monitor.asr.hallucination import reject_reason
from monitor.asr.replay_windows import ReplayBatcher, Slot
from monitor.event_bus import EventBus
from monitor.vocabulary import LANGUAGE_CHOICES
_GAP = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)   # between merged utterances


class TranscriptionParams(BaseModel):
    """``[transcription]`` settings; each range is declared once, here."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    language: str = "auto"
    replay_beam_size: int = Field(5, ge=1, le=10)
    max_new_tokens: int = Field(128, ge=16, le=440)
    queue_max: int = Field(6, ge=1, le=100)
    merge_max_s: float = Field(25.0, ge=1.0, le=29.0)
    partial_after_s: float = Field(4.0, ge=1.0, le=30.0)
    partial_every_s: float = Field(1.0, ge=0.2, le=30.0)
    language_confidence: float = Field(0.7, ge=0.0, le=1.0)
    speculate_ms: int = Field(300, ge=0, le=5000, description="0 = off")
    replay_batch_s: float = Field(24.0, ge=0.0, le=28.0, description="0 = one call per utterance")
    replay_batch_wait_s: float = Field(30.0, ge=1.0, le=600.0)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGE_CHOICES:
            raise ValueError(f"must be one of {', '.join(LANGUAGE_CHOICES)}")
        return value

    @field_validator("replay_batch_s")
    @classmethod
    def _window_or_off(cls, value: float) -> float:
        if 0.0 < value < 2.0:
            raise ValueError("must be 0 (off) or between 2 and 28")
        return value


class _ModelSettings(Protocol):
    name: str
    device: str
    threads: int

    @property
    def resolved_compute_type(self) -> str: ...


class AsrSettings(Protocol):
    """What building the stage reads of the configuration (``monitor.config.Config``
    has these; this wing does not import ``config``, which imports this wing)."""

    @property
    def model(self) -> _ModelSettings: ...
    @property
    def transcription(self) -> TranscriptionParams: ...
    @property
    def endpointing(self) -> EndpointParams: ...
    @property
    def vad(self) -> VadParams: ...


@dataclass
class _Item:
    speaker: str
    t: float
    t_end: float
    samples: np.ndarray
    parts: int = 1
    heard_at: float = 0.0      # monotonic time at which the audio at t_end came in

    def merge(self, other: "_Item") -> None:
        self.samples = np.concatenate([self.samples, _GAP, other.samples])
        self.t_end = other.t_end
        self.heard_at = other.heard_at
        self.parts += other.parts

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass
class _Partial:
    heard_s: float = 0.0               # audio length at the last partial attempt
    previous: list[str] = field(default_factory=list)
    emitted: int = 0                   # words of the stable prefix already sent


def _words(text: str) -> list[str]:
    return text.split()


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.casefold())


class TranscriptionStage:
    def __init__(self, bus: EventBus, speakers: tuple[str, ...], engine: Engine,
                 params: TranscriptionParams, endpoint: EndpointParams, vad: VadParams,
                 *, live: bool) -> None:
        self.bus = bus
        self.engine = engine
        self.p = params
        self.live = live
        self.endpointers = [Endpointer(s, endpoint, vad) for s in speakers]
        self.language: dict[str, str | None] = {
            s: (None if params.language == "auto" else params.language) for s in speakers}
        self.beam = 1 if live else params.replay_beam_size
        # counters
        self.utterances = 0
        self.merged = 0
        self.skipped = 0
        self.rejected: dict[str, int] = {}
        self.partials = 0
        self.partials_skipped = 0
        self.asr_seconds = 0.0
        self.lags: list[float] = []
        self.backlog_max = 0
        self.audio_seconds = 0.0
        self.speculations = 0
        self.speculations_used = 0
        self.errors = 0
        self.first_error = ""
        self._failures_in_a_row = 0
        self._speculated: dict[str, tuple[tuple[float, float, int], Transcript]] = {}
        # live worker
        self._queue: deque[_Item] = deque()
        self._cv = threading.Condition()
        self._partials = {s: _Partial() for s in speakers}
        self._closing = False
        self._hurry = False
        self._worker: threading.Thread | None = None
        self.batcher: ReplayBatcher | None = None
        if not live and params.replay_batch_s > 0:
            self.batcher = ReplayBatcher(self._transcribe_window, self._finalize,
                                         params.replay_batch_s, params.replay_batch_wait_s)
        if live:
            self._worker = threading.Thread(target=self._work, name="transcriber", daemon=True)
            self._worker.start()

    # --- the pipeline side ---------------------------------------------------
    @property
    def holds_events(self) -> bool:
        """Replay windows: the pipeline holds events until their utterances are in."""
        return self.batcher is not None

    def take_slots(self) -> list[Slot]:
        return self.batcher.take_slots() if self.batcher is not None else []

    def release(self, slot: Slot) -> None:
        """Emit a filled slot's utterance (called by the pipeline, in stream order)."""
        if slot.event is not None:
            self.bus.emit("utterance", **slot.event)
            self.utterances += 1

    def process(self, pcm: np.ndarray, frontend: FrontEnd) -> None:
        n = pcm.shape[1] // FRAME_SAMPLES
        first = frontend.frame - n
        for k, ep in enumerate(self.endpointers):
            if self.live:
                with self._cv:
                    utts = ep.feed(pcm[k], frontend.tracks[k].voiced, first)
            else:
                utts = ep.feed(pcm[k], frontend.tracks[k].voiced, first)
            for utt in utts:
                self._submit(utt, frontend.t)
        if self.batcher is not None:
            self.batcher.tick(frontend.t)
        if self.live:
            with self._cv:
                self._cv.notify()

    def finish(self, frontend: FrontEnd) -> None:
        self.audio_seconds = frontend.t
        for ep in self.endpointers:
            if self.live:
                with self._cv:
                    utts = ep.finish()
            else:
                utts = ep.finish()
            for utt in utts:
                self._submit(utt, frontend.t)
        if self.batcher is not None:
            self.batcher.flush_all()
        if self._worker is not None:
            with self._cv:
                self._closing = True
                self._cv.notify()
            self._worker.join()

    def hurry(self) -> None:
        """End now (a second Ctrl-C): what is still waiting is skipped, counted."""
        with self._cv:
            self._hurry = True
            self.skipped += sum(item.parts for item in self._queue)
            self._queue.clear()
            self._cv.notify()

    def stats(self) -> dict[str, Any]:
        audio_s = max(1e-9, self.audio_seconds)
        out: dict[str, Any] = {
            "transcription": {
                "mode": "live" if self.live else "replay",
                "utterances": self.utterances,
                "merged": self.merged,
                "skipped": self.skipped,
                "rejected": dict(sorted(self.rejected.items())),
                "blips_dropped": sum(ep.dropped_blips for ep in self.endpointers),
                "long_turns_split": sum(ep.splits for ep in self.endpointers),
                "partials": self.partials,
                "partials_skipped": self.partials_skipped,
                "speculative_finals": {"made": self.speculations, "used": self.speculations_used},
                "replay_windows": self.batcher.windows if self.batcher is not None else 0,
                "errors": self.errors + (self.batcher.failed if self.batcher is not None else 0),
                "backlog_max": self.backlog_max,
                "asr_seconds": round(self.asr_seconds, 3),
                "real_time_factor": round(self.asr_seconds / audio_s, 4),
                "languages": {s: lang for s, lang in self.language.items()},
            }
        }
        if self.first_error:
            out["transcription"]["first_error"] = self.first_error
        if self.lags:
            lags = np.array(self.lags)
            out["transcription"]["lag_s"] = {
                "p50": round(float(np.percentile(lags, 50)), 3),
                "p95": round(float(np.percentile(lags, 95)), 3),
                "max": round(float(lags.max()), 3),
            }
        return out

    # --- internals -----------------------------------------------------------
    def _submit(self, utt: Utterance, now_audio: float) -> None:
        if self.batcher is not None:
            self.batcher.add(utt, utt.t_end)
            return
        # the audio at t_end came in (now_audio - t_end) seconds of audio ago: lag is
        # measured from then on the monotonic clock, whatever the device start-up
        # took or the input dropped
        item = _Item(utt.speaker, utt.t, utt.t_end, utt.samples,
                     heard_at=time.monotonic() - (now_audio - utt.t_end))
        if not self.live:
            self._run(item)
            return
        with self._cv:
            if self._hurry:
                self.skipped += 1
                return
            if (item.seconds >= self.p.partial_after_s + self.p.partial_every_s
                    and self._partials[item.speaker].emitted == 0):
                self.partials_skipped += 1      # a long turn went by without a partial
            waiting = [q for q in self._queue if q.speaker == item.speaker]
            if waiting and waiting[-1].seconds + item.seconds + 0.2 <= self.p.merge_max_s:
                waiting[-1].merge(item)
                self.merged += 1
            else:
                if len(self._queue) >= self.p.queue_max:
                    dropped = self._queue.popleft()
                    self.skipped += dropped.parts
                    self._partials[dropped.speaker] = _Partial()
                self._queue.append(item)
            self.backlog_max = max(self.backlog_max, len(self._queue))
            self._cv.notify()

    def _transcribe(self, speaker: str, samples: np.ndarray) -> Transcript:
        started = time.perf_counter()
        tr = self.engine.transcribe(samples, self.language[speaker], self.beam)
        self.asr_seconds += time.perf_counter() - started
        return tr

    def _transcribe_window(self, speaker: str, samples: np.ndarray) -> Timed:
        started = time.perf_counter()
        timed = self.engine.transcribe_timed(samples, self.language[speaker], self.beam)
        self.asr_seconds += time.perf_counter() - started
        if self.language[speaker] is None and timed.language_probability >= self.p.language_confidence:
            self.language[speaker] = timed.language
        return timed

    def _finalize(self, utt: Utterance, text: str, segments: list[Segment], timed: Timed) -> dict | None:
        """One utterance of a replay window: its event fields, or None if rejected."""
        avg = float(np.mean([s.avg_logprob for s in segments])) if segments else -10.0
        nsp = float(max((s.no_speech_prob for s in segments), default=1.0))
        cr = float(max((s.compression_ratio for s in segments), default=0.0))
        reason = reject_reason(text, avg_logprob=avg, no_speech_prob=nsp, compression_ratio=cr,
                               language=timed.language)
        if reason is not None:
            code = reason.split(":", 1)[0]
            self.rejected[code] = self.rejected.get(code, 0) + 1
            return None
        return {"t": utt.t, "speaker": utt.speaker, "t_end": utt.t_end, "text": text,
                "language": timed.language, "avg_logprob": round(avg, 3), "no_speech_prob": round(nsp, 3)}

    def _run(self, item: _Item) -> None:
        spec = self._speculated.pop(item.speaker, None)
        if spec is not None and item.parts == 1 and spec[0] == (item.t, item.t_end, len(item.samples)):
            tr = spec[1]                    # transcribed while the end was being confirmed
            self.speculations_used += 1
        else:
            tr = self._transcribe(item.speaker, item.samples)
        reason = reject_reason(tr.text, avg_logprob=tr.avg_logprob, no_speech_prob=tr.no_speech_prob,
                               compression_ratio=tr.compression_ratio, language=tr.language)
        if reason is not None:
            code = reason.split(":", 1)[0]
            self.rejected[code] = self.rejected.get(code, 0) + 1
            return
        if self.language[item.speaker] is None and tr.language_probability >= self.p.language_confidence:
            self.language[item.speaker] = tr.language
        extra: dict[str, Any] = {}
        if item.parts > 1:
            extra["parts"] = item.parts
        self.bus.emit("utterance", item.t, item.speaker, t_end=item.t_end, text=tr.text,
                              language=tr.language, avg_logprob=round(tr.avg_logprob, 3),
                              no_speech_prob=round(tr.no_speech_prob, 3), **extra)
        self.utterances += 1
        if self.live:
            self.lags.append(time.monotonic() - item.heard_at)

    def _work(self) -> None:
        while True:
            with self._cv:
                spec = due = None
                while not self._queue and not self._closing and not self._hurry:
                    spec = self._speculation_due()
                    due = None if spec is not None else self._partial_due()
                    if spec is not None or due is not None:
                        break
                    self._cv.wait(timeout=0.05)
                if not self._queue and (self._closing or self._hurry):
                    if self._closing:
                        return
                    self._cv.wait(timeout=0.05)
                    continue
                item = self._queue.popleft() if self._queue else None
            try:
                if item is not None:
                    self._partials[item.speaker] = _Partial()
                    self._run(item)
                elif spec is not None:
                    key = (spec.t, spec.t_end, len(spec.samples))
                    self._speculated[spec.speaker] = (key, self._transcribe(spec.speaker, spec.samples))
                    self.speculations += 1
                elif due is not None:
                    self._run_partial(due)
                self._failures_in_a_row = 0
            except Exception as exc:  # the call goes on: count it, say it once, keep working
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        self._failures_in_a_row += 1
        if self.errors == 1:
            self.first_error = f"{type(exc).__name__}: {exc}"[:300]

    def _speculation_due(self) -> Utterance | None:
        """An utterance that has probably just ended (called under the lock)."""
        if not self.p.speculate_ms:
            return None
        for ep in self.endpointers:
            u = ep.ending(self.p.speculate_ms)
            if u is None:
                continue
            done = self._speculated.get(u.speaker)
            if done is None or done[0] != (u.t, u.t_end, len(u.samples)):
                return u
        return None

    def _partial_due(self) -> Utterance | None:
        """A growing utterance worth a partial transcript (called under the lock).

        None while anyone's utterance is in a pause: its final (or speculation) may
        be due any moment, and a partial in flight would make it wait."""
        if any(ep.collecting and not ep.still_talking for ep in self.endpointers):
            return None
        for ep in self.endpointers:
            if not ep.still_talking:
                # in a pause the final may be a few hundred ms away: a partial now
                # would make it wait a whole model call
                continue
            heard = ep.collected_seconds
            state = self._partials[ep.speaker]
            if heard < self.p.partial_after_s or heard - state.heard_s < self.p.partial_every_s:
                continue
            cur = ep.current()
            if cur is None:
                continue
            state.heard_s = heard
            return cur
        return None

    def _run_partial(self, cur: Utterance) -> None:
        tr = self._transcribe(cur.speaker, cur.samples)
        if reject_reason(tr.text, avg_logprob=tr.avg_logprob, no_speech_prob=tr.no_speech_prob,
                         compression_ratio=tr.compression_ratio, language=tr.language):
            return
        state = self._partials[cur.speaker]
        words = _words(tr.text)
        stable = 0
        for a, b in zip(state.previous, words):
            if _norm(a) != _norm(b):
                break
            stable += 1
        state.previous = words
        if stable > state.emitted:
            state.emitted = stable
            self.partials += 1
            self.bus.emit("utterance_partial", cur.t, cur.speaker, t_end=cur.t_end,
                          text=" ".join(words[:stable]), language=tr.language)


def transcription_stage(cfg: AsrSettings, bus: EventBus, speakers: tuple[str, ...], *, live: bool,
                        say: Callable[[str], None]) -> TranscriptionStage:
    """Load the configured model and build the stage for one call."""
    from monitor.asr.model_load import load_whisper     # faster-whisper only when needed

    m = cfg.model
    model = load_whisper(m.name, m.device, m.resolved_compute_type, m.threads, say=say)
    engine = WhisperEngine(model, cfg.transcription.max_new_tokens)
    return TranscriptionStage(bus, speakers, engine, cfg.transcription, cfg.endpointing,
                              cfg.vad, live=live)
