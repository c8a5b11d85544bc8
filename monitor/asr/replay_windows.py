"""Replay transcription in shared windows: several utterances, one model call.

Whisper pads every call to a 30 s window, so transcribing a replay one utterance
at a time pays for a whole window per utterance.  Here each speaker's utterances
are packed (with short silences between them) into windows of up to
``replay_batch_s`` of audio, transcribed once with word timestamps, and each
utterance gets back the words that fall inside it.

Ordering stays exactly that of a live call: each utterance has a *slot* in the
block where it ended; the pipeline holds that block's events until the slot is
filled, then releases everything in the original order.  A window is sent when
it is full, when its oldest utterance has waited ``replay_batch_wait_s`` of
call time (which bounds what the pipeline holds), or at the end of the call.
All of it depends only on the audio, so a replay stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from audio.endpointing import Utterance
from audio.frames import SAMPLE_RATE
from monitor.asr.engine import Timed

GAP_S = 0.3
_GAP = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
WINDOW_MAX_S = 28.0


@dataclass
class Slot:
    """Where an utterance's event goes in the stream; filled when transcribed."""
    ready: bool = False
    event: dict[str, Any] | None = None      # fields for bus.emit("utterance", ...)


@dataclass
class _Waiting:
    utterances: list[tuple[Utterance, Slot]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        n = sum(len(u.samples) for u, _ in self.utterances)
        return n / SAMPLE_RATE + GAP_S * max(0, len(self.utterances) - 1)


def assign_words(timed: Timed, offsets: list[tuple[float, float]]) -> list[list[Any]]:
    """The words whose middle falls in each utterance's stretch of the window
    (a word in a gap goes to the nearest utterance)."""
    out: list[list[Any]] = [[] for _ in offsets]
    for w in timed.words:
        mid = (w.start + w.end) / 2
        best = min(range(len(offsets)), key=lambda k: 0.0 if offsets[k][0] <= mid <= offsets[k][1]
                   else min(abs(mid - offsets[k][0]), abs(mid - offsets[k][1])))
        out[best].append(w)
    return out


class ReplayBatcher:
    def __init__(self, transcribe: Callable[[str, np.ndarray], Timed], finalize: Callable[..., dict | None],
                 batch_s: float, wait_s: float) -> None:
        self.transcribe = transcribe     # (speaker, audio) -> Timed
        self.finalize = finalize         # (utterance, text, segment stats, timed) -> event fields or None
        self.batch_s = min(batch_s, WINDOW_MAX_S)
        self.wait_s = wait_s
        self.waiting: dict[str, _Waiting] = {}
        self.new_slots: list[Slot] = []
        self.windows = 0
        self.failed = 0            # utterances whose window could not be transcribed

    def add(self, utt: Utterance, now: float) -> None:
        slot = Slot()
        self.new_slots.append(slot)
        w = self.waiting.setdefault(utt.speaker, _Waiting())
        extra = len(utt.samples) / SAMPLE_RATE + (GAP_S if w.utterances else 0.0)
        if w.utterances and w.seconds + extra > WINDOW_MAX_S:
            self.flush(utt.speaker)
            w = self.waiting.setdefault(utt.speaker, _Waiting())
        w.utterances.append((utt, slot))
        if w.seconds >= self.batch_s:
            self.flush(utt.speaker)
        self.tick(now)

    def tick(self, now: float) -> None:
        for speaker, w in list(self.waiting.items()):
            if w.utterances and now - w.utterances[0][0].t_end >= self.wait_s:
                self.flush(speaker)

    def take_slots(self) -> list[Slot]:
        out, self.new_slots = self.new_slots, []
        return out

    def flush_all(self) -> None:
        for speaker in list(self.waiting):
            self.flush(speaker)

    def flush(self, speaker: str) -> None:
        w = self.waiting.pop(speaker, None)
        if w is None or not w.utterances:
            return
        parts, offsets, at = [], [], 0.0
        for k, (utt, _) in enumerate(w.utterances):
            if k:
                parts.append(_GAP)
                at += GAP_S
            parts.append(utt.samples)
            offsets.append((at, at + len(utt.samples) / SAMPLE_RATE))
            at += len(utt.samples) / SAMPLE_RATE
        try:
            timed = self.transcribe(speaker, np.concatenate(parts))
            self.windows += 1
            for (utt, slot), words, (a, b) in zip(w.utterances, assign_words(timed, offsets), offsets):
                segs = [s for s in timed.segments if s.end > a and s.start < b] or timed.segments
                text = "".join(x.text for x in words).strip()
                slot.event = self.finalize(utt, text, segs, timed)
                slot.ready = True
        finally:
            # whatever happened (an engine error, Ctrl-C), these slots must not hold
            # back the rest of the call's events: unfilled ones go out empty
            for _, slot in w.utterances:
                if not slot.ready:
                    self.failed += 1
                    slot.ready = True
