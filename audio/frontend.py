"""The front end: 16 kHz int16 frames per speaker in, signal facts out.

For each speaker: voice activity, per-frame and short-term level, an adaptive
baseline and the raised-voice detector; across speakers: the turn tracker.
Facts come out in the order the detectors fired (frame by frame, speakers in
channel order), so the output does not depend on how the audio was chunked.

Per block, the numeric work (frame power, short-term level, dB) is vectorised;
the per-frame loop does only the webrtcvad call and a few comparisons, which
keeps the front end within a small factor of bare webrtcvad.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from audio.facts import Fact
from audio.frames import FRAME_SAMPLES, FRAME_SECONDS
from audio.level import Baseline, LevelParams, ShortTermLevel, frame_powers, power_db
from audio.raised_voice import RaisedVoiceDetector, RaisedVoiceParams
from audio.turns import TurnParams, TurnTracker
from audio.vad import ENDED, STARTED, VadParams, VoiceActivity

F = FRAME_SECONDS


@dataclass(frozen=True)
class FrontEndParams:
    vad: VadParams = field(default_factory=VadParams)
    level: LevelParams = field(default_factory=LevelParams)
    raised_voice: RaisedVoiceParams = field(default_factory=RaisedVoiceParams)
    turns: TurnParams = field(default_factory=TurnParams)


class SpeakerTrack:
    """Everything the front end knows about one speaker."""

    def __init__(self, name: str, params: FrontEndParams) -> None:
        self.name = name
        lp = params.level
        self.vad = VoiceActivity(params.vad)
        self.short_term = ShortTermLevel(lp.frames(lp.short_term_ms))
        self.baseline = Baseline(lp)
        self.raised = RaisedVoiceDetector(params.raised_voice, self.short_term.window)
        self.settle = lp.frames(lp.settle_ms) if lp.settle_ms else 0
        self.speech_frames = 0
        self.voiced_frames = 0
        # per-block arrays, filled by prepare()
        self.voiced: list[bool] = []
        self.powers: list[float] = []
        self.st_db: list[float] = []

    def prepare(self, pcm: np.ndarray) -> None:
        """Vectorised per-block work: frame power, VAD decisions, short-term level."""
        powers = frame_powers(pcm)
        self.voiced = self.vad.classify(pcm, power_db(powers))
        self.powers = powers.tolist()
        self.st_db = power_db(self.short_term.update(powers)).tolist()


class FrontEnd:
    """Feeds int16 blocks of shape (speakers, n * 320) through the detectors."""

    def __init__(self, speakers: Sequence[str], params: FrontEndParams | None = None) -> None:
        if not speakers:
            raise ValueError("the front end needs at least one speaker")
        self.params = params or FrontEndParams()
        self.speakers = tuple(speakers)
        self.tracks = [SpeakerTrack(name, self.params) for name in self.speakers]
        self.facts: list[Fact] = []
        self.turns = TurnTracker(self.speakers, [t.vad for t in self.tracks],
                                 self.params.turns, self.facts)
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
        for k, track in enumerate(self.tracks):
            track.prepare(pcm[k])
        tracks = self.tracks
        turns = self.turns
        every = self._level_every
        for j in range(n):
            i = self.frame + j
            for k, track in enumerate(tracks):
                self._step(k, track, i, j, every)
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
                                       {"t_end": end, "db_over_baseline": round(rd.peak_db, 2)}))
        self.turns.finish(end)
        return self._drain()

    def _drain(self) -> list[Fact]:
        out = list(self.facts)
        self.facts.clear()
        return out

    def _step(self, k: int, track: SpeakerTrack, i: int, j: int, every: int) -> None:
        vad = track.vad
        change = vad.step(i, track.voiced[j])
        now = (i + 1) * F
        if change == STARTED:
            self.facts.append(Fact("speech_start", vad.start_frame * F, track.name,
                                   {"t_detected": now}))
            self.turns.speech_started(k, vad.start_frame * F, now)
        elif change == ENDED:
            t_end = (vad.last_voiced + 1) * F
            self.facts.append(Fact("speech_end", vad.start_frame * F, track.name,
                                   {"t_end": t_end}))
            self.turns.speech_ended(k, t_end, now)
        speaking = vad.in_speech
        st = track.st_db[j]
        base = track.baseline
        over = st - base.value if base.ready else None
        if speaking:
            track.speech_frames += 1
            if track.voiced[j]:
                track.voiced_frames += 1
                if i - vad.start_frame >= track.settle:
                    base.learn(st, slow=over is not None and over >= track.raised.onset_db)
        res = track.raised.step(i, track.powers[j], over, base.value, speaking)
        if res is not None:
            if res[0] == "start":
                self.facts.append(Fact("raised_voice", res[1], track.name,
                                       {"t_detected": now, "db_over_baseline": round(res[2], 2)}))
            else:
                self.facts.append(Fact("raised_voice_end", res[1], track.name,
                                       {"t_end": res[2], "db_over_baseline": round(res[3], 2)}))
        acc = self._meter_acc[k] + track.powers[j]
        if (i + 1) % every:
            self._meter_acc[k] = acc
            return
        self._meter_acc[k] = 0.0
        self.facts.append(Fact("level", i * F + F - every * F, track.name, {
            "dbfs": round(float(power_db(acc / every)), 1),
            "short_term_dbfs": round(st, 1),
            "baseline_dbfs": None if base.value is None else round(base.value, 1),
            "speaking": speaking,
        }))
