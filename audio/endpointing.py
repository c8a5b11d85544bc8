"""Utterance endpointing: cut each speaker's speech into utterances for the
transcriber.

- An utterance opens when voice activity starts (the same start rule as the VAD)
  and carries ``preroll_ms`` (300 ms) of audio from before that start, so the
  first consonant is not clipped.
- It closes after ``end_silence_ms`` (500 ms) without a voiced frame, keeping
  ``tail_ms`` of audio after the last voiced frame.
- A turn longer than ``max_s`` (15 s) is split at the quietest 20 ms frame in the
  last ``split_search_s`` before the limit, and goes on as a new utterance.
- Speech shorter than ``min_speech_ms`` (250 ms: a click, a breath, "mm") is
  dropped and counted, never sent to the model.

``t`` and ``t_end`` of an utterance are the speech itself (first and last voiced
frame); ``samples`` include the pre-roll and tail.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from audio.frames import FRAME_SAMPLES, FRAME_SECONDS
from audio.params import Ranged, ranged
from audio.vad import ENDED, STARTED, VadParams, VoiceActivity


@dataclass(frozen=True)
class EndpointParams(Ranged):
    section = "endpointing"
    preroll_ms: int = ranged(300, 0, 2000)
    end_silence_ms: int = ranged(500, 100, 5000)
    tail_ms: int = ranged(200, 0, 2000)
    max_s: float = ranged(15.0, 2.0, 29.0)          # Whisper sees 30 s at most
    split_search_s: float = ranged(3.0, 0.2, 28.0)
    min_speech_ms: int = ranged(250, 0, 5000)

    def check(self) -> None:
        if self.split_search_s >= self.max_s:
            raise ValueError("endpointing split_search_s must be at least 0.2 and under max_s")


def _frames(ms: float) -> int:
    return int(round(ms / 1000 / FRAME_SECONDS))


class Utterance(NamedTuple):
    speaker: str
    t: float                 # first voiced frame
    t_end: float             # end of the last voiced frame
    samples: np.ndarray      # float32, 16 kHz, with pre-roll and tail
    split: bool = False      # True when cut at max_s (the turn goes on)


class Endpointer:
    """One speaker's endpointer; feed it every frame with its raw VAD decision."""

    def __init__(self, speaker: str, params: EndpointParams, vad: VadParams) -> None:
        self.speaker = speaker
        self.p = params
        self._va = VoiceActivity(replace(vad, hangover_ms=params.end_silence_ms))
        self._preroll = _frames(params.preroll_ms)
        self._tail = _frames(params.tail_ms)
        self._max = _frames(params.max_s * 1000)
        self._search = _frames(params.split_search_s * 1000)
        self._min = _frames(params.min_speech_ms)
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=self._preroll + vad.start_window + 1)
        self._cur: list[np.ndarray] = []
        self._cur_first = 0          # frame index of _cur[0]
        self._speech_first = 0       # first voiced frame of the current utterance
        self.dropped_blips = 0
        self.splits = 0

    @property
    def collecting(self) -> bool:
        return bool(self._cur)

    @property
    def collected_seconds(self) -> float:
        return len(self._cur) * FRAME_SECONDS

    @property
    def still_talking(self) -> bool:
        """Voiced within the last 100 ms: the utterance is not about to end."""
        return bool(self._cur) and self._cur_first + len(self._cur) - 1 - self._va.last_voiced <= 5

    @property
    def speech_start(self) -> float | None:
        """Audio time the open utterance's speech started (None when none is open)."""
        return self._speech_first * FRAME_SECONDS if self._cur else None

    @property
    def silence_ms(self) -> float:
        """While an utterance is open: milliseconds since its last voiced frame (0 otherwise)."""
        if not self._cur:
            return 0.0
        last = max(self._va.last_voiced, self._speech_first)
        return max(0, self._cur_first + len(self._cur) - 1 - last) * FRAME_SECONDS * 1000

    def ending(self, min_silence_ms: int) -> Utterance | None:
        """After ``min_silence_ms`` of silence (but before the utterance has ended),
        the utterance exactly as it will be if no more speech comes: the same
        samples the final will carry, so a transcript of it can stand for the final."""
        if not self._cur:
            return None
        last = self._va.last_voiced
        now = self._cur_first + len(self._cur) - 1
        if now - last < max(_frames(min_silence_ms), self._tail) or last + 1 - self._speech_first < self._min:
            return None
        end = last + 1 + self._tail
        return Utterance(self.speaker, self._speech_first * FRAME_SECONDS, (last + 1) * FRAME_SECONDS,
                         _to_float(self._cur[:end - self._cur_first]))

    def current(self) -> Utterance | None:
        """The utterance still being spoken, so far (for partial transcripts)."""
        if not self._cur:
            return None
        last = max(self._va.last_voiced, self._speech_first)
        return Utterance(self.speaker, self._speech_first * FRAME_SECONDS,
                         (last + 1) * FRAME_SECONDS, _to_float(self._cur))

    def feed(self, pcm: np.ndarray, voiced: list[bool], first_frame: int) -> list[Utterance]:
        """``pcm``: this speaker's int16 block; ``voiced``: raw VAD per frame."""
        out: list[Utterance] = []
        frames = pcm.reshape(-1, FRAME_SAMPLES)
        va = self._va
        for j, v in enumerate(voiced):
            i = first_frame + j
            x = frames[j]
            self._ring.append((i, x))
            change = va.step(i, v)
            if change == STARTED:
                self._speech_first = va.start_frame
                first = va.start_frame - self._preroll
                kept = [(k, f) for k, f in self._ring if k >= first]
                self._cur = [f for _, f in kept]
                self._cur_first = kept[0][0]
                continue
            if not self._cur:
                continue
            self._cur.append(x)
            if change == ENDED:
                if va.last_voiced < self._cur_first:
                    # a long turn was split after its last voiced frame: what is left
                    # is silence, neither an utterance nor a blip
                    self._cur = []
                    continue
                end = min(va.last_voiced + 1 + self._tail, i + 1)
                self._cur = self._cur[:end - self._cur_first]
                out += self._close(va.last_voiced)
            elif len(self._cur) >= self._max:
                out.append(self._split(i))
        return out

    def finish(self) -> list[Utterance]:
        if not self._cur:
            return []
        return self._close(max(self._va.last_voiced, self._speech_first))

    def _close(self, last_voiced: int) -> list[Utterance]:
        speech = last_voiced + 1 - self._speech_first
        samples = self._cur
        self._cur = []
        if speech < self._min:
            self.dropped_blips += 1
            return []
        return [Utterance(self.speaker, self._speech_first * FRAME_SECONDS,
                          (last_voiced + 1) * FRAME_SECONDS, _to_float(samples))]

    def _split(self, i: int) -> Utterance:
        """Cut at the quietest frame near the limit; the rest goes on."""
        powers = [float(np.mean(f.astype(np.float64) ** 2)) for f in self._cur[-self._search:]]
        cut = len(self._cur) - self._search + int(np.argmin(powers))
        cut = min(max(cut, 1), len(self._cur) - 1)   # both parts keep at least a frame
        head, rest = self._cur[:cut], self._cur[cut:]
        cut_frame = self._cur_first + cut
        utt = Utterance(self.speaker, self._speech_first * FRAME_SECONDS,
                        cut_frame * FRAME_SECONDS, _to_float(head), split=True)
        self.splits += 1
        self._cur = rest
        self._cur_first = cut_frame
        self._speech_first = cut_frame
        return utt


def _to_float(frames: list[np.ndarray]) -> np.ndarray:
    return (np.concatenate(frames).astype(np.float32) / 32768.0) if frames else np.zeros(0, np.float32)
