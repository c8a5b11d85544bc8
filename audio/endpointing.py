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
- *Pieces*: a pause of ``piece_pause_ms`` or more (120 ms: a comma's breath,
  longer than the gaps inside words) at least ``piece_min_s`` (3 s) into the
  current piece marks a cut in the middle of that pause, once the voice is
  back.  The utterance stays one utterance; its ``cuts`` say where a live
  transcriber may transcribe it piece by piece, the pieces before the last
  while the speaker is still talking, so that only the last piece is left to
  do when the turn ends.  A cut leaving less than ``piece_tail_min_s`` (1 s)
  after it is not kept (a short piece alone loses words).  Where the cuts fall
  depends on the audio alone.

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
    piece_pause_ms: int = ranged(120, 0, 2000)      # 0: no cuts, a turn is transcribed whole
    piece_min_s: float = ranged(3.0, 0.5, 29.0)
    piece_tail_min_s: float = ranged(1.0, 0.0, 29.0)

    def check(self) -> None:
        if self.split_search_s >= self.max_s:
            raise ValueError("endpointing split_search_s must be at least 0.2 and under max_s")
        if self.piece_pause_ms and self.piece_pause_ms >= self.end_silence_ms:
            raise ValueError("endpointing piece_pause_ms must be 0 (off) or under end_silence_ms")


def _frames(ms: float) -> int:
    return int(round(ms / 1000 / FRAME_SECONDS))


class Utterance(NamedTuple):
    speaker: str
    t: float                 # first voiced frame
    t_end: float             # end of the last voiced frame
    samples: np.ndarray      # float32, 16 kHz, with pre-roll and tail
    split: bool = False      # True when cut at max_s (the turn goes on)
    cuts: tuple[int, ...] = ()   # sample offsets in ``samples`` where pieces begin (see above)

    def pieces(self) -> list[tuple[int, int]]:
        """(start, end) sample offsets of its pieces, in order; one when no cuts."""
        bounds = [0, *self.cuts, len(self.samples)]
        return list(zip(bounds, bounds[1:]))


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
        self._pause = _frames(params.piece_pause_ms) if params.piece_pause_ms else 0
        self._piece_min = _frames(params.piece_min_s * 1000)
        self._tail_min = _frames(params.piece_tail_min_s * 1000)
        self._cuts: list[int] = []   # absolute frame numbers where pieces begin
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
                         _to_float(self._cur[:end - self._cur_first]), cuts=self._cuts_before(end))

    def current(self) -> Utterance | None:
        """The utterance still being spoken, so far (for partial transcripts)."""
        if not self._cur:
            return None
        last = max(self._va.last_voiced, self._speech_first)
        return Utterance(self.speaker, self._speech_first * FRAME_SECONDS,
                         (last + 1) * FRAME_SECONDS, _to_float(self._cur),
                         cuts=self._cuts_before(self._cur_first + len(self._cur)))

    def sure_pieces(self) -> list[tuple[int, int]]:
        """While the speaker talks on: (start, end) sample offsets of the pieces
        before the last cut sure to stay (the utterance cannot end within
        ``piece_tail_min_s`` of it), in order; [] when there are none.  Each is a
        piece of the final utterance, sample for sample (:meth:`piece` gives
        its audio)."""
        if not self._cur or not self._cuts:
            return []
        # the utterance will end at least ``tail_ms`` past its last voiced frame
        end = self._va.last_voiced + 1 + self._tail
        bounds = [0] + [(c - self._cur_first) * FRAME_SAMPLES for c in self._cuts
                        if end - c >= self._tail_min]
        return list(zip(bounds, bounds[1:]))

    def piece(self, start: int, end: int) -> np.ndarray:
        """Samples ``start:end`` of the open utterance, as its final will carry them."""
        return _to_float(self._cur[start // FRAME_SAMPLES:end // FRAME_SAMPLES])

    def _cuts_before(self, end: int) -> tuple[int, ...]:
        """Sample offsets of the cuts of an utterance ending at frame ``end``."""
        cuts = [c for c in self._cuts if c < end]
        while cuts and end - cuts[-1] < self._tail_min:
            cuts.pop()
        return tuple((c - self._cur_first) * FRAME_SAMPLES for c in cuts)

    def _maybe_cut(self, i: int) -> None:
        """Voice at frame ``i`` ends a pause of ``piece_pause_ms`` or more inside
        the utterance: cut in its middle if the piece so far is long enough."""
        last = self._va.last_voiced
        gap = i - last - 1
        if not self._pause or gap < self._pause or last < self._speech_first:
            return
        cut = last + 1 + gap // 2
        if cut - (self._cuts[-1] if self._cuts else self._cur_first) >= self._piece_min:
            self._cuts.append(cut)

    def feed(self, pcm: np.ndarray, voiced: list[bool], first_frame: int) -> list[Utterance]:
        """``pcm``: this speaker's int16 block; ``voiced``: raw VAD per frame."""
        out: list[Utterance] = []
        frames = pcm.reshape(-1, FRAME_SAMPLES)
        va = self._va
        for j, v in enumerate(voiced):
            i = first_frame + j
            x = frames[j]
            self._ring.append((i, x))
            if v and self._cur:
                self._maybe_cut(i)
            change = va.step(i, v)
            if change == STARTED:
                self._speech_first = va.start_frame
                first = va.start_frame - self._preroll
                kept = [(k, f) for k, f in self._ring if k >= first]
                self._cur = [f for _, f in kept]
                self._cur_first = kept[0][0]
                self._cuts = []
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
        cuts = self._cuts_before(self._cur_first + len(samples))
        self._cur, self._cuts = [], []
        if speech < self._min:
            self.dropped_blips += 1
            return []
        return [Utterance(self.speaker, self._speech_first * FRAME_SECONDS,
                          (last_voiced + 1) * FRAME_SECONDS, _to_float(samples), cuts=cuts)]

    def _split(self, i: int) -> Utterance:
        """Cut at the quietest frame near the limit; the rest goes on."""
        powers = [float(np.mean(f.astype(np.float64) ** 2)) for f in self._cur[-self._search:]]
        cut = len(self._cur) - self._search + int(np.argmin(powers))
        cut = min(max(cut, 1), len(self._cur) - 1)   # both parts keep at least a frame
        head, rest = self._cur[:cut], self._cur[cut:]
        cut_frame = self._cur_first + cut
        utt = Utterance(self.speaker, self._speech_first * FRAME_SECONDS,
                        cut_frame * FRAME_SECONDS, _to_float(head), split=True,
                        cuts=self._cuts_before(cut_frame))
        self.splits += 1
        self._cuts = [c for c in self._cuts if c - cut_frame >= self._piece_min]
        self._cur = rest
        self._cur_first = cut_frame
        self._speech_first = cut_frame
        return utt


def _to_float(frames: list[np.ndarray]) -> np.ndarray:
    return (np.concatenate(frames).astype(np.float32) / 32768.0) if frames else np.zeros(0, np.float32)
