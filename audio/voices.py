"""Whose baseline a stretch of speech is judged against.

On a stereo call each channel is one party: :class:`OneVoice` keeps that
party's level and effort baselines.  On a mono recording both parties share the
channel, and one baseline for both would judge the louder (or higher) party
against the quieter (or lower) one.  :class:`MonoVoices` keeps a baseline per
voice, and judges every stretch against **all** of them.

Telling the voices apart (only to learn each one's baseline from its own speech):

- The first speech segment of the call starts voice 1.
- A segment's *identity* is the median pitch of ``ID_PITCHED`` (8) pitched
  analyses (about half a second of voice) and the 0.4 s level at the last of
  them; it is looked at again after every further ``ID_PITCHED``, so a change of
  speaker without a pause can be noticed.  A segment is placed with the nearest
  voice within ``|d pitch| / PITCH_SCALE_ST + |d level| / LEVEL_SCALE_DB <= 1``
  and stays with it until a later look fits another voice (and not this one),
  or fits this one very badly (beyond ``NEW_VOICE + 0.5``).  4 semitones: wider
  than one speaker's sentence-to-sentence wander of median pitch (about +/-2 in
  EmoDB), half the usual gap between a man's and a woman's voice.  12 dB: a
  voice that only gets louder is still recognised, while two parties more than
  12 dB apart on the line stay apart.  Two similar voices may share one voice.
- A segment that is never placed becomes the second voice when it ends (at
  most ``MAX_VOICES``, the two parties) if it lasted at least one look, lay
  beyond ``NEW_VOICE`` from every voice and was never raised: a shouted turn
  never becomes someone's "usual".  What it said while unknown is learned then,
  and what a segment says before it is placed is learned once it is.

Judging, on a mono line (see also :mod:`audio.raised_voice`):

- The effort score is the lowest of the scores against each voice that has a
  baseline: a stretch is raised only if it is raised relative to every voice
  known, so calm speech of either party is never flagged for sounding unlike
  the other.  (A voice that the stretch is pitched more than
  ``effort.PITCH_ABOVE_ST`` above is left out: it cannot be that voice's calm
  speech.)
- The level is compared with the highest of the voices' level baselines, needs
  some effort beside it (over the voice it is most like a raised version of),
  and while the segment is not placed a further ``UNKNOWN_MARGIN_DB``.

On the calm mono calls of ``benchmarks/effort.py`` (two EmoDB speakers 12 dB
apart, with and without AGC, and the fixtures mixed down) this gives no
raised-voice event, against 64 for the level-only detector with one baseline.
Cues are still reported for the ``call`` speaker: which voice it was stays a
guess inside the detector.
"""

from __future__ import annotations

from audio.effort import PITCH_ABOVE_ST, EffortBaseline, EffortParams, EffortWindow, _median
from audio.level import Baseline, LevelParams
from audio.raised_voice import UNKNOWN_MARGIN_DB

ID_PITCHED = 8
PITCH_SCALE_ST = 4.0
LEVEL_SCALE_DB = 12.0
NEW_VOICE = 1.0
MAX_VOICES = 2
_BUFFER = 1500              # analyses / frames kept per unknown segment (60 s / 30 s)


class Voice:
    """One voice's baselines and identity (median pitch, mean level)."""

    __slots__ = ("level", "effort", "pitch", "loudness", "n_id")

    def __init__(self, level: Baseline, effort: EffortBaseline) -> None:
        self.level = level
        self.effort = effort
        self.pitch = 0.0
        self.loudness = 0.0
        self.n_id = 0

    def identify(self, pitch: float, loudness: float) -> None:
        self.n_id += 1
        self.pitch += (pitch - self.pitch) / min(self.n_id, 20)
        self.loudness += (loudness - self.loudness) / min(self.n_id, 20)

    def distance(self, pitch: float, loudness: float) -> float:
        return abs(pitch - self.pitch) / PITCH_SCALE_ST + abs(loudness - self.loudness) / LEVEL_SCALE_DB


def _effort_baseline(ep: EffortParams, lp: LevelParams, hop_s: float) -> EffortBaseline:
    return EffortBaseline(ep.ready_s, lp.warmup_s, lp.tau_s, lp.slow_factor, hop_s)


class OneVoice:
    """A channel that carries one party (stereo): its own baselines, always known."""

    def __init__(self, level: Baseline, ep: EffortParams, lp: LevelParams, hop_s: float) -> None:
        self.voice = Voice(level, _effort_baseline(ep, lp, hop_s))

    def segment_start(self) -> None:
        pass

    def segment_end(self, raised: bool) -> None:
        pass

    def learn_level(self, level_db: float, slow: bool) -> None:
        pass                        # the track's own baseline *is* this voice's

    def observe(self, f0: float, level_db: float) -> None:
        pass

    def learn_effort(self, tilt: float, f0: float, slow: bool) -> None:
        self.voice.effort.learn(tilt, f0, slow)

    def baseline(self) -> float | None:
        level = self.voice.level
        return level.value if level.ready else None

    def effort(self, window: EffortWindow) -> float | None:
        base = self.voice.effort
        return window.score(base) if base.ready else None


class MonoVoices:
    """Per-voice baselines for a mono channel (see the module docstring)."""

    def __init__(self, ep: EffortParams, lp: LevelParams, hop_s: float) -> None:
        self._ep, self._lp, self._hop = ep, lp, hop_s
        self.voices: list[Voice] = []
        self.current: Voice | None = None
        self._recent: list[float] = []          # pitched analyses since the last look
        self._looks = 0                         # identity looks in this segment
        self._placed = False                    # the segment has been matched to a voice
        self._level_buf: list[tuple[float, bool]] = []
        self._effort_buf: list[tuple[float, float, bool]] = []
        self._id_pitch = 0.0                    # the segment's identity at the last look
        self._id_level = 0.0
        self.most: float | None = None          # see effort()

    def _new_voice(self) -> Voice:
        v = Voice(Baseline(self._lp), _effort_baseline(self._ep, self._lp, self._hop))
        self.voices.append(v)
        return v

    # --- segments -------------------------------------------------------------
    def segment_start(self) -> None:
        self.current = self._new_voice() if not self.voices else None
        self._placed = self.current is not None
        self._recent.clear()
        self._looks = 0
        self._level_buf.clear()
        self._effort_buf.clear()

    def segment_end(self, raised: bool) -> None:
        if (self.current is None and not self._placed and not raised and self._looks
                and len(self.voices) < MAX_VOICES
                and all(v.distance(self._id_pitch, self._id_level) > NEW_VOICE
                        for v in self.voices if v.n_id)):
            v = self._new_voice()
            v.identify(self._id_pitch, self._id_level)
            self._flush(v)
        self.current = None
        self._level_buf.clear()
        self._effort_buf.clear()

    def observe(self, f0: float, level_db: float) -> None:
        """An analysis of the current segment: its pitch (NaN when unpitched) and
        the speaker's short-term (0.4 s) level at it.  Every ``ID_PITCHED``
        pitched analyses the segment's identity is looked at again."""
        if f0 != f0:
            return
        self._recent.append(f0)
        if len(self._recent) < ID_PITCHED:
            return
        pitch, level = _median(self._recent), level_db   # by now the 0.4 s window is all speech
        self._recent.clear()
        self._id_pitch, self._id_level = pitch, level
        self._looks += 1
        if self._looks == 1 and self.current is not None:   # the call's first voice
            self.current.identify(pitch, level)
            return
        known = [v for v in self.voices if v.n_id]
        if not known:                            # the first voice never said enough to know it
            self._adopt(self.voices[0], pitch, level)
            return
        best = min(known, key=lambda v: v.distance(pitch, level))
        if best is self.current:
            best.identify(pitch, level)
        elif best.distance(pitch, level) <= 1.0 and (
                self.current is None or self.current.distance(pitch, level) > 1.0):
            self._adopt(best, pitch, level)
        elif self.current is not None and self.current.distance(pitch, level) > NEW_VOICE + 0.5:
            self.current = None                  # clearly no longer the voice it started with
            self._level_buf.clear()
            self._effort_buf.clear()

    def _adopt(self, voice: Voice, pitch: float, level: float) -> None:
        if self.current is None:
            self._flush(voice)                   # what it said while unknown
        self.current = voice
        self._placed = True
        voice.identify(pitch, level)

    def _flush(self, voice: Voice) -> None:
        """Learn what the segment said before its voice was known."""
        for level_db, slow in self._level_buf:
            voice.level.learn(level_db, slow)
        for tilt, f0, slow in self._effort_buf:
            voice.effort.learn(tilt, f0, slow)
        self._level_buf.clear()
        self._effort_buf.clear()

    # --- learning -------------------------------------------------------------
    def learn_level(self, level_db: float, slow: bool) -> None:
        if self.current is not None:
            self.current.level.learn(level_db, slow)
        elif len(self._level_buf) < _BUFFER:
            self._level_buf.append((level_db, slow))

    def learn_effort(self, tilt: float, f0: float, slow: bool) -> None:
        if self.current is not None:
            self.current.effort.learn(tilt, f0, slow)
        elif len(self._effort_buf) < _BUFFER:
            self._effort_buf.append((tilt, f0, slow))

    # --- judging --------------------------------------------------------------
    def margin_db(self) -> float:
        """Extra level the raised-voice detector needs while the voice is not placed."""
        return 0.0 if self.current is not None else UNKNOWN_MARGIN_DB

    def baseline(self) -> float | None:
        """The level baseline to judge against: the highest of the voices'."""
        ready = [v.level.value for v in self.voices if v.level.ready]
        return max(ready) if ready else None

    def effort(self, window: EffortWindow) -> float | None:
        """The effort score: the lowest over the known voices.  The highest, the
        effort over the voice it is most like a raised version of, is kept in
        ``most`` (what a level rise needs beside it)."""
        scores = []
        self.most = None
        for v in self.voices:
            if not v.effort.ready:
                continue
            score = window.score(v.effort)
            if score is None:
                pitch = window.pitch()
                if pitch is None or pitch <= v.effort.f0 + PITCH_ABOVE_ST:
                    return None              # too little voice, or not comparable
                continue                     # far above this voice: not its calm speech
            scores.append(score)
        if not scores:
            return None
        self.most = max(scores)
        return min(scores)
