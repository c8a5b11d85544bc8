"""The transcription stage: endpointed utterances in, ``utterance`` events out.

One engine (one model) serves the call.  Two ways to run it:

- **replay** (``live=False``): in the pipeline's own thread, so the same file
  always gives the same transcript.  Utterances are packed per speaker into
  shared windows of up to ``replay_batch_s`` (one model call for several; see
  ``monitor/asr/replay_windows.py``) and the pipeline holds events until their
  utterances are transcribed, so the stream keeps the order a live call would
  have.  ``replay_batch_s = 0`` transcribes each utterance on its own instead.
- **live** (``live=True``, also ``--realtime`` replays): model calls go through a
  :class:`~monitor.asr.scheduler.Scheduler` (the call's own, with two workers
  and a model that runs two calls at once where there are two cores, or one a
  server shares between calls): the customer's finals before the operator's, partials
  and speculative finals only when no final waits, a result older than
  ``max_age_s`` dropped and counted instead of shown, the backlog bounded
  (``queue_max`` per call) and, while the transcript is delayed, work shed in a
  fixed order (partials, then the operator's side), each change announced with a
  ``transcript_delayed`` event.  An utterance waiting behind another of the same
  speaker is *merged* into it (one model call instead of two, up to
  ``merge_max_s`` of audio).  Decoding uses a beam of ``live_beam_size`` (2:
  on the English fixtures WER 0.095 greedy, 0.083 with 2, for a fifth more
  decoding; partials stay greedy), no fallback, and a short encoder context
  (``monitor/asr/short_context.py``).  Every merge, drop and
  rejection is counted in the summary.

Partial results, speculative finals and pieces of long turns made ahead: see
``monitor/asr/idle_work.py`` (which is due) and ``monitor/asr/idle_jobs.py``
(the jobs).  Live, a long turn is transcribed piece by piece, cut at its
breaths (``monitor/asr/pieces.py``); a replay transcribes it whole.

Language: fixed when configured.  With ``auto`` it is detected for every
utterance (in live mode at the cost of one decoder step); the engine is offered
the speaker's language so far for a detection under ``language_confidence``
(``monitor/asr/short_context.py`` decodes such an utterance both ways and keeps
the likelier), and a confident detection becomes the speaker's language, so a
speaker who switches language mid-call is followed rather than written in the
first language's script.
Replays detect until one utterance is confident and then keep that language
(re-detecting a 30 s window costs a second model call).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from audio.endpointing import Endpointer, EndpointParams, Utterance
from audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from audio.frontend import FrontEnd
from audio.vad import VadParams
from monitor.asr.engine import Engine, Segment, Timed, Transcript
from monitor.asr.hallucination import reject_reason
from monitor.asr.idle_jobs import IdleJobs
from monitor.asr.idle_work import IdleChooser, utterance_key
from monitor.asr.pieces import transcribe_pieces
from monitor.asr.replay_windows import ReplayBatcher, Slot
from monitor.asr.scheduler import Deadline, Job, Scheduler, Tier
from monitor.asr.settings import TranscriptionParams
from monitor.event_bus import EventBus

__all__ = ["TranscriptionParams", "TranscriptionStage"]

_GAP = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)   # between merged utterances


@dataclass
class _Item:
    speaker: str
    t: float
    t_end: float
    samples: np.ndarray
    parts: int = 1
    heard_at: float = 0.0      # monotonic time at which the audio at t_end came in
    cuts: tuple[int, ...] = ()     # where its pieces begin (``monitor/asr/pieces.py``)
    deadline: Deadline | None = None    # live: set while its job runs

    def merge(self, other: "_Item") -> None:
        self.samples = np.concatenate([self.samples, _GAP, other.samples])
        self.cuts = ()                  # merged: transcribed whole
        self.t_end = other.t_end
        self.heard_at = other.heard_at
        self.parts += other.parts

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _tier(speaker: str, final: bool = True) -> Tier:
    if not final:
        return Tier.PARTIAL
    return Tier.OPERATOR_FINAL if speaker == "operator" else Tier.CUSTOMER_FINAL


class TranscriptionStage(IdleJobs):
    def __init__(self, bus: EventBus, speakers: tuple[str, ...], engine: Engine,
                 params: TranscriptionParams, endpoint: EndpointParams, vad: VadParams,
                 *, live: bool, scheduler: Scheduler | None = None) -> None:
        self.bus = bus
        self.engine = engine
        self.p = params
        self.live = live
        self.endpointers = [Endpointer(s, endpoint, vad) for s in speakers]
        self.language: dict[str, str | None] = {
            s: (None if params.language == "auto" else params.language) for s in speakers}
        self.beam = params.live_beam_size if live else params.replay_beam_size
        # counters
        self.utterances = 0
        self.rejected: dict[str, int] = {}
        self.partials = 0
        self.partials_skipped = 0
        self.partials_cancelled = 0
        self.partials_stale = 0
        self.asr_seconds = 0.0
        self.audio_seconds = 0.0
        self.speculations = 0
        self.speculations_used = 0
        self.speculations_given_up = 0
        self.pieces_ahead = 0
        self.pieces_reused = 0
        self.full_context = 0
        self.errors = 0
        self.first_error = ""
        self._failures_in_a_row = 0
        self.delayed_events = 0
        # live
        self._cv = threading.Condition()        # guards the endpointers and idle-work state
        self._idle = IdleChooser(self.endpointers, params.speculate_ms, params.partial_after_s,
                                 params.partial_every_s, operator_partials=params.operator_partials)
        self._speculated = self._idle.speculated
        self._partials = self._idle.partials
        self._clock: Callable[[], float] = scheduler.clock if scheduler is not None else time.monotonic
        self._now = (0.0, self._clock())        # (audio time, clock) of the last block
        self._speculating: dict[str, tuple[float, float, int]] = {}    # speaker -> utterance key
        self._hurried = 0
        self.scheduler: Scheduler | None = None
        self._own_scheduler = False
        self.lane = None
        self._lane_final: tuple[dict[str, Any], list[float]] | None = None
        self.batcher: ReplayBatcher | None = None
        if not live and params.replay_batch_s > 0:
            self.batcher = ReplayBatcher(self._transcribe_window, self._finalize,
                                         params.replay_batch_s, params.replay_batch_wait_s)
        if live:
            self._own_scheduler = scheduler is None
            self.scheduler = scheduler or Scheduler(max_age_s=params.max_age_s, clock=self._clock,
                                                    workers=getattr(engine, "workers", 1))
            self.lane = self.scheduler.open(bus.call_id, queue_max=params.queue_max,
                                            idle=self._idle_job, on_delay=self._on_delay)

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
        utts: list[Utterance] = []
        with self._cv:
            self._now = (frontend.t, self._clock())
            for k, ep in enumerate(self.endpointers):
                utts += ep.feed(pcm[k], frontend.tracks[k].voiced, first)
        for utt in utts:
            self._submit(utt, frontend.t)
        if self.batcher is not None:
            self.batcher.tick(frontend.t)
        if self.lane is not None:
            self.lane.poke()

    def finish(self, frontend: FrontEnd) -> None:
        self.audio_seconds = frontend.t
        with self._cv:
            self._now = (frontend.t, self._clock())
            utts = [u for ep in self.endpointers for u in ep.finish()]
        for utt in utts:
            self._submit(utt, frontend.t)
        if self.batcher is not None:
            self.batcher.flush_all()
        if self.lane is not None:
            self.lane.drain()
            self._lane_final = self._lane_figures()      # kept past the lane's closing
            self.lane.close()
            if self._own_scheduler:
                self.scheduler.shutdown()

    def hurry(self) -> None:
        """End now (a second Ctrl-C): what is still waiting is skipped, counted."""
        if self.lane is not None:
            self._hurried += self.lane.clear("hurry")

    def stats(self) -> dict[str, Any]:
        audio_s = max(1e-9, self.audio_seconds)
        tr: dict[str, Any] = {
            "mode": "live" if self.live else "replay",
            "utterances": self.utterances,
            "merged": 0,
            "skipped": 0,
            "rejected": dict(sorted(self.rejected.items())),
            "blips_dropped": sum(ep.dropped_blips for ep in self.endpointers),
            "long_turns_split": sum(ep.splits for ep in self.endpointers),
            "partials": self.partials,
            "partials_skipped": self.partials_skipped,
            "speculative_finals": {"made": self.speculations, "used": self.speculations_used,
                                   "given_up": self.speculations_given_up},
            "pieces": {"ahead": self.pieces_ahead, "reused": self.pieces_reused},
            "replay_windows": self.batcher.windows if self.batcher is not None else 0,
            "errors": self.errors + (self.batcher.failed if self.batcher is not None else 0),
            "backlog_max": 0,
            "asr_seconds": round(self.asr_seconds, 3),
            "real_time_factor": round(self.asr_seconds / audio_s, 4),
            "languages": {s: lang for s, lang in self.language.items()},
        }
        if self.first_error:
            tr["first_error"] = self.first_error
        lags: list[float] = []
        if self.lane is not None:
            lane, lags = self._lane_figures()
            dropped = dict(lane.get("dropped", {}))
            tr.update(merged=lane.get("merged", 0), backlog_max=lane.get("backlog_max", 0),
                      skipped=sum(dropped.pop(k, 0) for k in ("full", "hurry", "closed")))
            tr["too_old"] = dropped              # stale, late, shed: counted, never shown
            tr["max_age_s"] = self.scheduler.max_age_s
            tr["delayed"] = lane.get("delays", 0)
            tr["partials_cancelled"] = self.partials_cancelled
            tr["partials_stale"] = self.partials_stale
            tr["full_context"] = self.full_context
        if lags:
            a = np.array(lags)
            tr["lag_s"] = {"p50": round(float(np.percentile(a, 50)), 3),
                           "p95": round(float(np.percentile(a, 95)), 3),
                           "max": round(float(a.max()), 3)}
        return {"transcription": tr}

    def _lane_figures(self) -> tuple[dict[str, Any], list[float]]:
        if self._lane_final is not None:
            return self._lane_final
        call_id = self.lane.call_id
        return self.scheduler.stats(call_id), self.scheduler.lags(call_id)

    # --- replay --------------------------------------------------------------
    def _submit(self, utt: Utterance, now_audio: float) -> None:
        if self.batcher is not None:
            self.batcher.add(utt, utt.t_end)
            return
        # the audio at t_end came in (now_audio - t_end) seconds of audio ago: lag is
        # measured from then on the monotonic clock, whatever the device start-up
        # took or the input dropped
        item = _Item(utt.speaker, utt.t, utt.t_end, utt.samples,
                     heard_at=self._clock() - (now_audio - utt.t_end), cuts=utt.cuts)
        if not self.live:
            self._run(item)
            return
        key = utterance_key(utt)
        with self._cv:
            if (item.speaker in self._idle.partial_speakers
                    and item.seconds >= self.p.partial_after_s + self.p.partial_every_s
                    and self._partials[item.speaker].emitted == 0):
                self.partials_skipped += 1      # a long turn went by without a partial
            self._idle.reset(item.speaker)      # its next partials are of a new utterance
            done = self._speculated.get(item.speaker)
            # transcribed (or being transcribed) while its end was confirmed: nearly free
            instant = (done is not None and done[0] == key) or self._speculating.get(item.speaker) == key
        job = Job(_tier(item.speaker), item.speaker, item.heard_at, item.seconds,
                  run=lambda deadline, item=item: self._run_final(item, deadline), payload=item,
                  expected_s=0.0 if instant else None)
        self.lane.submit(job, merge=self._merge)

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
            self._reject(reason)
            return None
        return {"t": utt.t, "speaker": utt.speaker, "t_end": utt.t_end, "text": text,
                "language": timed.language, "avg_logprob": round(avg, 3), "no_speech_prob": round(nsp, 3)}

    # --- both: one utterance at a time ---------------------------------------
    def _transcribe(self, speaker: str, samples: np.ndarray,
                    cancel: Callable[[], bool] | None = None, beam: int = 0,
                    abandon: Callable[[], bool] | None = None) -> Transcript | None:
        """One model call (the language rule is in the module docstring); None when
        a partial gave up (``cancel``) for a waiting final or a speculation was
        abandoned (``abandon``) after encoding.  ``beam`` 0: the stage's.
        Live, two run at once (a partial beside a final or speculation), so the
        counters are locked."""
        beam = beam or self.beam
        started = time.perf_counter()
        extra: dict[str, Any] = {k: v for k, v in (("cancel", cancel), ("abandon", abandon))
                                 if v is not None}
        if self.p.language == "auto":
            tr = self.engine.transcribe(samples, None, beam, fallback=self.language[speaker], **extra)
        else:
            tr = self.engine.transcribe(samples, self.language[speaker], beam, **extra)
        with self._cv:
            self.asr_seconds += time.perf_counter() - started
            if tr is not None and tr.full_context:
                self.full_context += 1
        return tr

    def _transcribe_utterance(self, speaker: str, t: float, samples: np.ndarray,
                              cuts: tuple[int, ...], abandon: Callable[[], bool] | None = None
                              ) -> Transcript | None:
        """A whole utterance: live, piece by piece (those made ahead reused; see
        ``monitor/asr/pieces.py``), else in one model call.  ``abandon`` may give
        up only its last piece."""
        if not self.live or not cuts:
            return self._transcribe(speaker, samples, abandon=abandon)
        bounds = list(zip((0, *cuts), (*cuts, len(samples))))
        return transcribe_pieces(
            t, samples, bounds, done=lambda key: self._piece_done(speaker, key),
            transcribe=lambda x, last: self._transcribe(speaker, x, abandon=abandon if last else None),
            keep=lambda key, tr: self._locked(self._idle.store_piece, speaker, key, tr))

    def _reject(self, reason: str) -> None:
        code = reason.split(":", 1)[0]
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def _run(self, item: _Item) -> None:
        """Transcribe one utterance (or merged ones) and emit it, if in time."""
        with self._cv:
            spec = self._speculated.pop(item.speaker, None)
        if spec is not None and item.parts == 1 and spec[0] == (item.t, item.t_end, len(item.samples)):
            tr = spec[1]                    # transcribed while the end was being confirmed
            self.speculations_used += 1
        else:
            tr = self._transcribe_utterance(item.speaker, item.t, item.samples, item.cuts)
        reason = reject_reason(tr.text, avg_logprob=tr.avg_logprob, no_speech_prob=tr.no_speech_prob,
                               compression_ratio=tr.compression_ratio, language=tr.language)
        if reason is not None:
            self._reject(reason)
            return
        if self.p.language == "auto" and tr.language_probability >= self.p.language_confidence:
            self.language[item.speaker] = tr.language
        if item.deadline is not None and not item.deadline.ok():
            return                          # too old to show: counted by the scheduler
        extra: dict[str, Any] = {}
        if item.parts > 1:
            extra["parts"] = item.parts
        self.bus.emit("utterance", item.t, item.speaker, t_end=item.t_end, text=tr.text,
                      language=tr.language, avg_logprob=round(tr.avg_logprob, 3),
                      no_speech_prob=round(tr.no_speech_prob, 3), **extra)
        self.utterances += 1

    def _work(self, step: Callable[..., None], *args: Any) -> None:
        """Run one piece of the call's transcription; a failure is counted, said once,
        and the call goes on."""
        try:
            step(*args)
            with self._cv:
                self._failures_in_a_row = 0
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        with self._cv:
            self.errors += 1
            self._failures_in_a_row += 1
            if self.errors == 1:
                self.first_error = f"{type(exc).__name__}: {exc}"[:300]

    # --- live: the jobs the scheduler runs -----------------------------------
    def _run_final(self, item: _Item, deadline: Deadline) -> None:
        item.deadline = deadline
        self._work(self._run, item)

    def _merge(self, waiting: Job, job: Job) -> bool:
        a, b = waiting.payload, job.payload
        if a.seconds + b.seconds + 0.2 > self.p.merge_max_s:
            return False
        a.merge(b)
        return True

    def _on_delay(self, on: bool, info: dict[str, Any]) -> None:
        """The scheduler says the transcript is (or no longer is) delayed: tell the screen."""
        self.delayed_events += 1
        self.bus.emit("transcript_delayed", self._now[0], on=on, **info)
