"""The speech-to-text engine: one faster-whisper model and the decoding rules
that make it safe for live use.

- Previous-text conditioning is always off (no hallucinated continuations).
- Output length is bounded (``max_new_tokens``).
- Live and realtime use a small beam (``live_beam_size``, 2; partials 1) and no
  temperature fallback, so one call costs about one encoder pass plus one
  decoding, whatever the audio.
- Voice activity is not re-run inside the model: utterances come endpointed.
- faster-whisper's own no-speech skipping is off; the hallucination filter
  (``monitor/hallucination.py``) decides, and what it rejects is counted.
- Live (``short_context``): each utterance is encoded in a context of
  max(10 s, twice its length but at most 4 s more) instead of 30 s, with a
  token cap tied to its length (``monitor/asr/short_context.py``); the language
  is detected for every utterance; one detected with less than
  ``language_confidence`` in another language than the speaker's so far
  (``fallback``) is decoded in both and the likelier transcript kept, so a
  speaker who switches language is followed, and never written in the first
  language's script.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from monitor.errors import CalmlineError


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    full_context: bool = False     # a short context ran into its token cap and was redone


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str          # with its leading space, as Whisper writes it


@dataclass(frozen=True)
class Timed:
    """A window transcribed with word times (replay batches)."""
    words: list[Word]
    segments: list[Segment]
    language: str
    language_probability: float


class Engine(Protocol):
    def transcribe(self, samples: np.ndarray, language: str | None, beam_size: int,
                   fallback: str | None = None, cancel: Callable[[], bool] | None = None,
                   abandon: Callable[[], bool] | None = None) -> Transcript | None: ...
    def transcribe_timed(self, samples: np.ndarray, language: str | None, beam_size: int) -> Timed: ...


class WhisperEngine:
    def __init__(self, model: Any, max_new_tokens: int = 128, *, short_context: bool = False,
                 language_confidence: float = 0.7, workers: int = 1) -> None:
        self.model = model
        self.workers = workers           # model calls the loaded model runs at once
        self.max_new_tokens = max_new_tokens
        self.language_confidence = language_confidence
        self.short = None
        if short_context:
            from monitor.asr.short_context import ShortContextWhisper

            self.short = ShortContextWhisper(model)

    def _decode(self, samples: np.ndarray, language: str | None, beam_size: int, **extra: Any):
        """The decoding rules every call shares (see the module docstring)."""
        return self.model.transcribe(
            samples,
            language=language,
            beam_size=beam_size,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
            no_speech_threshold=None,
            log_prob_threshold=None,
            compression_ratio_threshold=None,
            **extra,
        )

    def transcribe(self, samples: np.ndarray, language: str | None, beam_size: int,
                   fallback: str | None = None, cancel: Callable[[], bool] | None = None,
                   abandon: Callable[[], bool] | None = None) -> Transcript | None:
        """One utterance: ``language`` fixed, or None to detect it (see the module
        docstring for ``fallback``).  Short context only: None comes back when
        ``cancel`` (a partial) turned true during decoding, or ``abandon`` (a
        speculation) was true once the audio was encoded."""
        if self.short is not None:
            d = self.short.transcribe(samples, language, beam_size, self.max_new_tokens,
                                      fallback=fallback, confidence=self.language_confidence,
                                      cancel=cancel, abandon=abandon)
            if d is None:
                return None
            return Transcript(d.text, d.language, d.detected_probability, d.avg_logprob,
                              d.no_speech_prob, d.compression_ratio, d.full_context)
        segments, info = self._decode(samples, language or fallback, beam_size,
                                      without_timestamps=True, max_new_tokens=self.max_new_tokens)
        segs = list(segments)
        text = " ".join(s.text.strip() for s in segs).strip()
        if segs:
            weights = [max(1, len(s.tokens)) for s in segs]
            avg = float(np.average([s.avg_logprob for s in segs], weights=weights))
            nsp = float(max(s.no_speech_prob for s in segs))
            cr = float(max(s.compression_ratio for s in segs))
        else:
            avg, nsp, cr = -10.0, 1.0, 0.0
        return Transcript(text, info.language, float(info.language_probability), avg, nsp, cr)

    def warm_up(self, language: str | None, beam_size: int, seconds: float = 2.0) -> None:
        """Make one model call on each of the model's workers at once (on quiet
        noise), so the first utterances of a call do not pay for the workers'
        first calls (about 0.1 s each here: ``benchmarks/live_latency.py``).
        ``language`` as configured: ``auto`` (or None) warms up in English.  A
        model that cannot make that call could not transcribe the call either:
        :class:`CalmlineError`, before anything is recorded."""
        fixed = language if language not in (None, "auto") else "en"
        noise = np.random.default_rng(0).normal(0.0, 1e-3, int(seconds * 16000)).astype(np.float32)
        failed: list[BaseException] = []

        def call() -> None:
            try:
                self.transcribe(noise, fixed, beam_size)
            except Exception as exc:      # reported below, in the caller's thread
                failed.append(exc)

        calls = [threading.Thread(target=call, name=f"warm-up-{k}", daemon=True)
                 for k in range(self.workers)]
        for thread in calls:
            thread.start()
        for thread in calls:
            thread.join()
        if failed:
            from monitor.asr.model_load import one_line

            raise CalmlineError(f"the speech model failed its first transcription ({fixed}, beam "
                                f"{beam_size}): {one_line(failed[0])}; check [model] device and "
                                "compute_type")

    def transcribe_timed(self, samples: np.ndarray, language: str | None, beam_size: int) -> Timed:
        """One window of up to 30 s with word timestamps, so a replay can transcribe
        several utterances in one model call and give each its own words."""
        segments, info = self._decode(samples, language, beam_size, word_timestamps=True,
                                      max_new_tokens=max(self.max_new_tokens, 224))
        words: list[Word] = []
        segs: list[Segment] = []
        for seg in segments:
            segs.append(Segment(float(seg.start), float(seg.end), float(seg.avg_logprob),
                                float(seg.no_speech_prob), float(seg.compression_ratio)))
            words += [Word(float(w.start), float(w.end), w.word) for w in (seg.words or [])]
        return Timed(words, segs, info.language, float(info.language_probability))
