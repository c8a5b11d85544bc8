"""Whisper on a shorter encoder context, for live transcription.

faster-whisper pads every call to 30 s of log-mel frames (3000), so the encoder
costs as much for a 2 s utterance as for a 30 s one.  CTranslate2's Whisper
encoder also takes a shorter input: here an utterance is encoded in a context of
``max(CONTEXT_FLOOR_S, min(CONTEXT_FACTOR x its length, its length +
CONTEXT_MARGIN_S))`` (at most 30 s), padded with the same zero log-mel frames
faster-whisper pads with, and decoded from that.  Measured on this project's base
model (``benchmarks/wer.py``): the same words as the full 30 s context, for a
third to a fifth of the encoder time.  The margin caps a long turn's context (an
8 s turn: 12 s instead of 16 s, its encoder pass 0.30 s instead of 0.43 s on one
thread here, at the end of the turn where it is all lag); the English fixtures'
WER was the same with a margin of 3 s.

Three guards, because a context barely longer than the speech makes Whisper run
on into repetitions (a 2 s German sentence in a 5 s context came back six times
over):

- the floor of 10 s on the context;
- a token cap tied to the duration (:func:`token_cap`: 16 + 10 tokens per
  second of audio; fast Cyrillic speech is about 7 per second);
- a decoding that runs into the cap without ending is taken for a loop and done
  again with the full 30 s context (counted by the caller as ``full_context``);
  what still comes back wrong is the hallucination filter's to reject.

Language detection costs one decoder step on the encoder output already made,
so with no fixed language it is done for every utterance (see
:meth:`ShortContextWhisper.transcribe`).
This module leans on faster-whisper's feature extractor, tokenizer and
suppressed-token list, and on CTranslate2's public ``encode``,
``detect_language`` and ``generate``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

SAMPLE_RATE = 16000
FRAMES_PER_S = 100                 # log-mel frames (hop 160 at 16 kHz)
FULL_CONTEXT_S = 30.0
CONTEXT_FLOOR_S = 10.0
CONTEXT_FACTOR = 2.0
CONTEXT_MARGIN_S = 4.0
TOKENS_MIN = 16
TOKENS_PER_S = 10.0
MODEL_MAX_LENGTH = 448
CANCEL_STEP = 8                    # tokens decoded before the first look at ``cancel`` (then doubling)


def context_seconds(audio_s: float) -> float:
    """The encoder context for ``audio_s`` seconds of audio."""
    return min(FULL_CONTEXT_S, max(CONTEXT_FLOOR_S, min(CONTEXT_FACTOR * audio_s,
                                                        audio_s + CONTEXT_MARGIN_S)))


def token_cap(audio_s: float, limit: int) -> int:
    """At most this many new tokens for ``audio_s`` seconds of speech."""
    return max(1, min(limit, math.ceil(TOKENS_MIN + TOKENS_PER_S * audio_s)))


@dataclass(frozen=True)
class Decoded:
    text: str
    language: str                  # the language decoded in
    detected: str                  # the most likely language of this audio
    detected_probability: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    context_s: float               # the context finally used
    full_context: bool             # the short context ran into the cap and was redone


class ShortContextWhisper:
    """Greedy or beam decoding of one utterance in a short context, on a loaded
    ``faster_whisper.WhisperModel``."""

    def __init__(self, model: Any) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.model = model
        self._Tokenizer = Tokenizer
        self._suppressed = get_suppressed_tokens
        self._tokenizers: dict[str, tuple[Any, list[int], list[int]]] = {}
        self.multilingual = bool(model.model.is_multilingual)

    def _tokenizer(self, language: str) -> tuple[Any, list[int], list[int]]:
        """(tokenizer, prompt, suppressed tokens) for a language, made once."""
        got = self._tokenizers.get(language)
        if got is None:
            tok = self._Tokenizer(self.model.hf_tokenizer, self.multilingual, task="transcribe",
                                  language=language if self.multilingual else None)
            prompt = list(tok.sot_sequence) + [tok.no_timestamps]
            got = (tok, prompt, list(self._suppressed(tok, [-1])))
            self._tokenizers[language] = got
        return got

    def _encode(self, features: np.ndarray, context_s: float) -> Any:
        frames = int(round(context_s * FRAMES_PER_S)) // 2 * 2
        seg = features[:, :frames]
        if seg.shape[1] < frames:
            seg = np.pad(seg, ((0, 0), (0, frames - seg.shape[1])))
        return self.model.encode(np.ascontiguousarray(seg, dtype=np.float32))

    def _detect(self, encoded: Any) -> tuple[str, float]:
        if not self.multilingual:
            return "en", 1.0
        token, prob = self.model.model.detect_language(encoded)[0][0]
        return token[2:-2], float(prob)

    def _generate(self, encoded: Any, language: str, beam_size: int, cap: int,
                  cancel: Callable[[], bool] | None = None) -> tuple[list[int], str, float, float] | None:
        """Decode at most ``cap`` tokens; with ``cancel``, greedily in runs
        (:data:`CANCEL_STEP` tokens, then twice as many each time), each continuing
        from the tokens so far, giving up (None) when ``cancel`` says so between
        two runs.  CTranslate2 decodes the tokens handed back to it one step at a
        time, as dearly as new ones, so equal runs would cost the square of the
        length (a 24-token partial in runs of 8: 48 decoder steps); doubling runs
        keep it under twice the length, and a waiting final still waits for no
        more than one run."""
        tok, prompt, suppress = self._tokenizer(language)
        step = cap if cancel is None or beam_size != 1 else CANCEL_STEP
        tokens: list[int] = []
        cum_logprob, no_speech = 0.0, None
        while True:
            n = min(step, cap - len(tokens))
            result = self.model.model.generate(
                encoded, [prompt + tokens], beam_size=beam_size, patience=1.0, length_penalty=1.0,
                max_length=_max_length(len(tokens) + n), return_scores=True,
                return_no_speech_prob=True, suppress_blank=not tokens, suppress_tokens=suppress)[0]
            seq = list(result.sequences_ids[0])
            new = seq[len(tokens):][:n]
            # the score is per token of the whole sequence, the given tokens adding
            # (about) nothing: what is new in this run
            cum_logprob += float(result.scores[0]) * len(seq)
            if no_speech is None:
                no_speech = float(result.no_speech_prob)
            tokens += new
            if len(new) < n or len(tokens) >= cap:
                break
            if cancel is not None and cancel():
                return None
            step *= 2
        avg_logprob = cum_logprob / (len(tokens) + 1)
        return tokens, tok.decode(tokens).strip(), avg_logprob, float(no_speech or 0.0)

    def transcribe(self, samples: np.ndarray, language: str | None, beam_size: int,
                   max_new_tokens: int, *, fallback: str | None = None, confidence: float = 0.7,
                   cancel: Callable[[], bool] | None = None,
                   abandon: Callable[[], bool] | None = None) -> Decoded | None:
        """One utterance.  ``language`` fixed, or None to use the detected one.  With
        ``fallback`` (the speaker's language so far), a detection under
        ``confidence`` that names another language is decoded both ways and the
        likelier transcript kept (a wrong language costs the decoder far more:
        English speech decoded as German averages about -1.1 to -1.5 a token
        against -0.1 to -0.4), so a speaker who switched is followed even when the
        detection wavers, and a short unsure utterance keeps the language it is in.
        ``cancel`` (a partial): None comes back when it is true once the audio is
        encoded or turned true during decoding (a partial still encoding when a
        turn ends gives way before its first run of decoding, not after it).
        ``abandon`` (a speculation): None comes back when it is true once the audio
        is encoded (the decoding, about half the cost, is saved)."""
        audio_s = len(samples) / SAMPLE_RATE
        features = self.model.feature_extractor(samples)[:, :-1]
        context_s = context_seconds(audio_s)
        encoded = self._encode(features, context_s)
        # a fixed language needs no detection (one decoder step saved)
        detected, probability = (language, 1.0) if language else self._detect(encoded)
        use = language or (fallback if fallback and probability < confidence else detected)
        if (abandon is not None and abandon()) or (cancel is not None and cancel()):
            return None
        cap = token_cap(audio_s, max_new_tokens)
        out = self._generate(encoded, use, beam_size, cap, cancel)
        if out is None:
            return None
        if not language and use != detected:          # unsure: the detected one may be right
            other = self._generate(encoded, detected, beam_size, cap, cancel)
            if other is None:
                return None
            if other[2] > out[2]:
                use, out = detected, other
        tokens, text, avg, nsp = out
        full = False
        if len(tokens) >= cap and context_s < FULL_CONTEXT_S and cancel is None:
            # ran into the cap without ending: most likely a loop the short
            # context set off; the full context is Whisper's own behaviour
            full, context_s = True, FULL_CONTEXT_S
            encoded = self._encode(features, context_s)
            redo = self._generate(encoded, use, beam_size, max(cap, min(max_new_tokens, 2 * cap)))
            assert redo is not None       # no cancel, so never given up
            tokens, text, avg, nsp = redo
        return Decoded(text, use, detected, probability, avg, nsp, compression_ratio(text),
                       context_s, full)


def _max_length(tokens: int) -> int:
    """CTranslate2's ``max_length`` for a sequence of ``tokens`` text tokens: its
    Whisper decoding stops at ``max_length / 2`` (OpenAI's half-context rule, prompt
    tokens after the start sequence included), within the model's 448."""
    return min(MODEL_MAX_LENGTH, 2 * tokens)


def compression_ratio(text: str) -> float:
    """Whisper's looping test: bytes of the text over bytes of it compressed."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0
