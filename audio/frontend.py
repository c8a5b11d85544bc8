"""The front end: 16 kHz int16 frames per speaker in, signal facts out.

For each speaker: voice activity, per-frame and short-term level, an adaptive
baseline, vocal effort (:mod:`audio.effort`) and the raised-voice detector;
across speakers: the turn tracker.
Facts come out in the order the detectors fired (frame by frame, speakers in
channel order), so the output does not depend on how the audio was chunked.

Per block, the numeric work (frame power, short-term level, dB) is vectorised;
the per-frame loop does only the webrtcvad call and a few comparisons, which
keeps the front end within a small factor of bare webrtcvad.  Effort features
are computed only on voiced frames, every second frame, in one batch for all
speakers of a block (:mod:`audio.analyses`); the frame loop only folds each
analysis into its speaker's window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from audio.analyses import HOP, BlockAnalyser, TrackAnalyses
from audio.effort import EffortWindow
from audio.facts import Fact
from audio.frames import FRAME_SAMPLES, FRAME_SECONDS
from audio.level import FLOOR_DB, Baseline, LevelParams, ShortTermLevel, frame_powers, power_db
from audio.raised_voice import RaisedVoiceDetector, RaisedVoiceParams
from audio.turns import TurnParams, TurnTracker
from audio.vad import ENDED, STARTED, VadParams, VoiceActivity
from audio.voices import MonoVoices, OneVoice

F = FRAME_SECONDS
_FLOOR_POWER = 10 ** (FLOOR_DB / 10)


@dataclass(frozen=True)
class FrontEndParams:
    vad: VadParams = field(default_factory=VadParams)
    level: LevelParams = field(default_factory=LevelParams)
    raised_voice: RaisedVoiceParams = field(default_factory=RaisedVoiceParams)
    turns: TurnParams = field(default_factory=TurnParams)


class SpeakerTrack:
    """Everything the front end knows about one speaker."""

    def __init__(self, name: str, params: FrontEndParams, mono: bool = False) -> None:
        self.name = name
        ep = params.raised_voice.effort
        self.mono = mono and ep.enabled      # telling voices apart needs the effort analyses
        mono = self.mono
        lp = params.level
        self.vad = VoiceActivity(params.vad)
        self.baseline = Baseline(lp)
        self.raised = RaisedVoiceDetector(params.raised_voice, lp.frames(lp.short_term_ms))
        self.settle = lp.frames(lp.settle_ms) if lp.settle_ms else 0
        self.speech_frames = 0
        self.voiced_frames = 0
        self.effort_on = ep.enabled
        self.effort = EffortWindow(ep)
        self.voices = (MonoVoices(ep, lp, HOP * F) if mono
                       else OneVoice(self.baseline, ep, lp, HOP * F))
        self.effort_base = self.voices.voice.effort if not mono else None
        self.effort_score: float | None = None
        self.segment_raised = False
        # a level jump on a mono line is as likely the other party: it needs effort beside it
        self.raised.level_needs_effort = mono and ep.enabled
        # per-block lists, filled by FrontEnd.process()
        self.voiced: list[bool] = []
        self.powers: list[float] = []
        self.st_db: list[float] = []
        self.analyses = TrackAnalyses()


class FrontEnd:
    """Feeds int16 blocks of shape (speakers, n * 320) through the detectors."""

    def __init__(self, speakers: Sequence[str], params: FrontEndParams | None = None) -> None:
        if not speakers:
            raise ValueError("the front end needs at least one speaker")
        self.params = params or FrontEndParams()
        self.speakers = tuple(speakers)
        mono = self.speakers == ("call",)
        self.tracks = [SpeakerTrack(name, self.params, mono) for name in self.speakers]
        self.analyser = BlockAnalyser(len(self.tracks), self.params.raised_voice.effort.enabled)
        for track, analyses in zip(self.tracks, self.analyser.tracks):
            track.analyses = analyses
        self.facts: list[Fact] = []
        self.turns = TurnTracker(self.speakers, [t.vad for t in self.tracks],
                                 self.params.turns, self.facts)
        lp = self.params.level
        self._short_term = ShortTermLevel(lp.frames(lp.short_term_ms), len(self.tracks))
        self.frame = 0
        self._level_every = self.params.level.frames(self.params.level.meter_ms)
        self._meter_acc = [0.0] * len(self.tracks)
        self.finished = False

    @property
    def t(self) -> float:
        """Audio seconds processed so far."""
        return self.frame * F

    def process(self, pcm: np.ndarray) -> list[Fact]:
        """Run a block through; return the facts it produced, in firing order."""
        if pcm.ndim != 2 or pcm.shape[0] != len(self.tracks) or pcm.shape[1] % FRAME_SAMPLES:
            raise ValueError(f"expected int16 block ({len(self.tracks)}, k*{FRAME_SAMPLES}), "
                             f"got {pcm.shape}")
        n = pcm.shape[1] // FRAME_SAMPLES
        self._prepare(pcm, n)
        self.analyser.run(pcm, [track.voiced for track in self.tracks], self.frame)
        tracks = self.tracks
        turns = self.turns
        every = self._level_every
        acc = self._meter_acc
        for j in range(n):
            i = self.frame + j
            for k, track in enumerate(tracks):
                vad = track.vad
                if vad.in_speech or track.voiced[j] or track.raised.active:
                    self._step(k, track, i, j, every)
                    continue
                # at rest (out of speech, unvoiced, no cue open): what _step would do
                vad.rest()
                power = track.powers[j]
                track.raised.silent(power)
                if (i + 1) % every:
                    acc[k] += power
                else:
                    self._meter(k, track, i, every, acc[k] + power, track.st_db[j], False)
            turns.tick((i + 1) * F)
        self.frame += n
        return self._drain()

    def finish(self) -> list[Fact]:
        """Close every open span at the end of the audio."""
        if self.finished:
            return []
        self.finished = True
        end = self.frame * F
        for k, track in enumerate(self.tracks):
            vad = track.vad
            if vad.in_speech:
                vad.in_speech = False
                t_end = (vad.last_voiced + 1) * F
                self.facts.append(Fact("speech_end", vad.start_frame * F, track.name,
                                       {"t_end": t_end}))
                self.turns.speech_ended(k, t_end, end)
            rd = track.raised
            if rd.active:
                rd.active = False
                self.facts.append(Fact("raised_voice_end", rd.start_t, track.name,
                                       _end_data(end, rd.peak_db, rd.peak_effort)))
        self.turns.finish(end)
        return self._drain()

    def _prepare(self, pcm: np.ndarray, n: int) -> None:
        """Vectorised per-block work for all speakers: frame power, VAD decisions,
        short-term level."""
        powers = frame_powers(pcm).reshape(len(self.tracks), n)
        dbfs = power_db(powers)
        st_db = power_db(self._short_term.update(powers)).tolist()
        for k, (track, p) in enumerate(zip(self.tracks, powers.tolist())):
            track.voiced = track.vad.classify(pcm[k], dbfs[k])
            track.powers = p
            track.st_db = st_db[k]

    def _drain(self) -> list[Fact]:
        out = list(self.facts)
        self.facts.clear()
        return out

    def _step(self, k: int, track: SpeakerTrack, i: int, j: int, every: int) -> None:
        vad = track.vad
        voiced = track.voiced[j]
        change = vad.step(i, voiced)
        if change:
            self._speech_change(k, track, change, i)
        speaking = vad.in_speech
        st = track.st_db[j]
        base = track.baseline
        if track.mono:
            judge = track.voices.baseline()
        else:
            judge = base.value if base.learned >= base.ready_n else None
        over = None if judge is None else st - judge
        rd = track.raised
        settled = False
        if speaking:
            track.speech_frames += 1
            if voiced:
                track.voiced_frames += 1
                settled = i - vad.start_frame >= track.settle
                if settled:
                    slow = over is not None and over >= rd.onset_db
                    base.learn(st, slow)
                    if track.mono:
                        track.voices.learn_level(st, slow)
            row = track.analyses.row[j]
            if row >= 0:
                self._effort(track, i, row, settled, st)
        power = track.powers[j]
        if speaking or rd.active:
            res = rd.step(i, power, over, judge, speaking, track.effort_score, vad.start_frame)
            if res is not None:
                self._raised(track, res, i)
        else:
            rd.silent(power)
        if (i + 1) % every:
            self._meter_acc[k] += power
        else:
            self._meter(k, track, i, every, self._meter_acc[k] + power, st, speaking)

    def _meter(self, k: int, track: SpeakerTrack, i: int, every: int, acc: float, st: float,
               speaking: bool) -> None:
        """A ``level`` reading: the mean of the last ``every`` frames."""
        self._meter_acc[k] = 0.0
        value = track.baseline.value
        self.facts.append(Fact("level", i * F + F - every * F, track.name, {
            "dbfs": round(10.0 * math.log10(max(acc / every, _FLOOR_POWER)), 1),
            "short_term_dbfs": round(st, 1),
            "baseline_dbfs": None if value is None else round(value, 1),
            "speaking": speaking,
        }))

    def _speech_change(self, k: int, track: SpeakerTrack, change: int, i: int) -> None:
        vad = track.vad
        now = (i + 1) * F
        if change == STARTED:
            self.facts.append(Fact("speech_start", vad.start_frame * F, track.name,
                                   {"t_detected": now}))
            self.turns.speech_started(k, vad.start_frame * F, now)
            track.voices.segment_start()
            track.segment_raised = track.raised.active
            if track.mono:
                track.raised.level_margin_db = track.voices.margin_db()
        elif change == ENDED:
            t_end = (vad.last_voiced + 1) * F
            self.facts.append(Fact("speech_end", vad.start_frame * F, track.name,
                                   {"t_end": t_end}))
            self.turns.speech_ended(k, t_end, now)
            track.voices.segment_end(track.segment_raised)

    def _raised(self, track: SpeakerTrack, res: tuple, i: int) -> None:
        if res[0] == "start":
            track.segment_raised = True
            self.facts.append(Fact("raised_voice", res[1], track.name, {
                "t_detected": (i + 1) * F, "db_over_baseline": round(res[2], 2),
                "effort": _round(res[3]), "by": res[4]}))
        else:
            self.facts.append(Fact("raised_voice_end", res[1], track.name,
                                   _end_data(res[2], res[3], res[4])))

    @staticmethod
    def _effort(track: SpeakerTrack, i: int, row: int, settled: bool, level_db: float) -> None:
        """Fold one analysis into the speaker's effort window (and baselines)."""
        an = track.analyses
        f0 = an.f0[row]
        window = track.effort
        window.push(i, an.low[row], an.high[row], f0)
        if track.mono:
            voices = track.voices
            voices.observe(f0, level_db)
            track.raised.level_margin_db = voices.margin_db()
            if settled:
                voices.learn_effort(window.tilt, f0, track.raised.active)
            track.effort_score = voices.effort(window)
            track.raised.level_effort = voices.most
            return
        base = track.effort_base                     # one voice per channel
        if settled:
            base.learn(window.tilt, f0, track.raised.active)
        track.effort_score = window.score(base) if base.ready else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _end_data(t_end: float, peak_db: float, peak_effort: float | None) -> dict:
    return {"t_end": t_end, "db_over_baseline": round(peak_db, 2), "effort": _round(peak_effort)}
