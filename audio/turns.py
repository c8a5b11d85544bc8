"""Turn-taking between the parties: overlap, silence and monologue.

- ``overlap``: a speaker starts while another is already in speech, and both are
  still voiced ``overlap_min_s`` (0.5 s) after that start.  ``speaker`` is the one
  who started talking over ``other``; ``t`` is when they started.  Short
  acknowledgements ("mm-hm") and the natural hand-over gap never count.
- ``silence``: nobody has been in speech for ``silence_min_s`` (5 s); ``t`` is the
  end of the last speech (or the start of the call).
- ``monologue``: one speaker has held the floor for ``monologue_min_s`` (45 s)
  with no speech at all from the other party (any "mm-hm" acknowledges); a long
  silence also ends the run.

The tracker is told about speech starts and ends as the voice activity confirms
them, and looks at the clock once per frame; all its work between deadlines is a
single comparison, so it costs nothing on the frame loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from audio.facts import Fact
from audio.frames import FRAME_SECONDS
from audio.params import Ranged, ranged
from audio.vad import VoiceActivity

_INF = float("inf")


@dataclass(frozen=True)
class TurnParams(Ranged):
    section = "turns"
    overlap_min_s: float = ranged(0.5, 0.04, 30)
    silence_min_s: float = ranged(5.0, 0.5, 3600)
    monologue_min_s: float = ranged(45.0, 5, 3600)


class _Overlap:
    __slots__ = ("a", "b", "t0", "fired")

    def __init__(self, a: int, b: int, t0: float) -> None:
        self.a, self.b, self.t0, self.fired = a, b, t0, False


class TurnTracker:
    def __init__(self, speakers: Sequence[str], vads: Sequence[VoiceActivity],
                 params: TurnParams, out: list[Fact]) -> None:
        self.names = list(speakers)
        self.vads = list(vads)
        self.p = params
        self.out = out
        self.multi = len(self.names) > 1
        self.overlaps: list[_Overlap] = []
        self.silence_since: float | None = 0.0
        self.silence_fired = False
        self.run_speaker: int | None = None
        self.run_start = 0.0
        self.monologue_fired = False
        self._next = params.silence_min_s

    # --- notifications from the voice activity -------------------------------
    def speech_started(self, k: int, t: float, now: float) -> None:
        if self.silence_since is not None:
            if self.silence_fired:
                self._emit("silence_end", self.silence_since, None, t_end=t)
            self.silence_since = None
            self.silence_fired = False
        if self.multi:
            for j, vad in enumerate(self.vads):
                if j != k and vad.in_speech and vad.start_frame * FRAME_SECONDS < t:
                    self.overlaps.append(_Overlap(k, j, t))
            if self.run_speaker != k:
                self._end_monologue(t)
                self.run_speaker, self.run_start = k, t
        self._reschedule(now)

    def speech_ended(self, k: int, t_end: float, now: float) -> None:
        keep = []
        for ov in self.overlaps:
            if k in (ov.a, ov.b):
                if ov.fired:
                    self._emit("overlap_end", ov.t0, ov.a, other=self.names[ov.b], t_end=t_end)
            else:
                keep.append(ov)
        self.overlaps = keep
        if not any(v.in_speech for v in self.vads):
            ends = [(v.last_voiced + 1) * FRAME_SECONDS for v in self.vads if v.last_voiced >= 0]
            self.silence_since = max(ends) if ends else t_end
            self.silence_fired = False
        elif self.multi and k == self.run_speaker:
            self._end_monologue(t_end)
            self.run_speaker = next(j for j, v in enumerate(self.vads) if v.in_speech)
            self.run_start = t_end
        self._reschedule(now)

    # --- the clock -----------------------------------------------------------
    def tick(self, now: float) -> None:
        if now >= self._next:
            self._check(now)

    def finish(self, now: float) -> None:
        if self.silence_since is not None and self.silence_fired:
            self._emit("silence_end", self.silence_since, None, t_end=now)
        self._end_monologue(now)
        self.silence_since = None

    # --- internals -----------------------------------------------------------
    def _check(self, now: float) -> None:
        p = self.p
        for ov in self.overlaps:
            due = ov.t0 + p.overlap_min_s
            if not ov.fired and now >= due:
                a, b = self.vads[ov.a], self.vads[ov.b]
                if min(a.last_voiced, b.last_voiced) * FRAME_SECONDS >= due - FRAME_SECONDS:
                    ov.fired = True
                    self._emit("overlap", ov.t0, ov.a, other=self.names[ov.b], t_detected=now)
        if (self.silence_since is not None and not self.silence_fired
                and now - self.silence_since >= p.silence_min_s - 1e-9):
            self.silence_fired = True
            self._emit("silence", self.silence_since, None, t_detected=now)
            self._end_monologue(self.silence_since)
            self.run_speaker = None
        if (self.multi and self.run_speaker is not None and not self.monologue_fired
                and now - self.run_start >= p.monologue_min_s - 1e-9
                and self.vads[self.run_speaker].in_speech):
            self.monologue_fired = True
            self._emit("monologue", self.run_start, self.run_speaker, t_detected=now)
        self._reschedule(now)

    def _reschedule(self, now: float) -> None:
        p = self.p
        nxt = _INF
        for ov in self.overlaps:
            if not ov.fired:
                nxt = min(nxt, ov.t0 + p.overlap_min_s)
        if self.silence_since is not None and not self.silence_fired:
            nxt = min(nxt, self.silence_since + p.silence_min_s - 1e-9)
        if self.multi and self.run_speaker is not None and not self.monologue_fired:
            nxt = min(nxt, self.run_start + p.monologue_min_s - 1e-9)
        # a deadline already passed whose condition is not met yet: look again next frame
        self._next = max(nxt, now + FRAME_SECONDS - 1e-9)

    def _end_monologue(self, t_end: float) -> None:
        if self.monologue_fired and self.run_speaker is not None:
            self._emit("monologue_end", self.run_start, self.run_speaker, t_end=t_end)
        self.monologue_fired = False

    def _emit(self, kind: str, t: float, k: int | None, **data) -> None:
        self.out.append(Fact(kind, t, self.names[k] if k is not None else None, data))
