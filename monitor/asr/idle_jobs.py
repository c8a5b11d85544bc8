"""The jobs of a live call's idle work (what runs when no final waits): a
speculative final, a piece of a long turn, a partial transcript.  Which is due
is :class:`~monitor.asr.idle_work.IdleChooser`'s to say; these make the model
call and keep or publish the result.  A mixin of
:class:`~monitor.asr.transcription.TranscriptionStage`, whose state (the lock
``_cv``, the chooser, the counters, the bus) it works on.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from audio.endpointing import Utterance
from audio.frames import SAMPLE_RATE
from monitor.asr.engine import Transcript
from monitor.asr.hallucination import reject_reason
from monitor.asr.idle_work import IdleChooser, PartialState, stable_prefix, utterance_key
from monitor.asr.pieces import Key, done_ahead
from monitor.asr.scheduler import Deadline, Job, Tier

if TYPE_CHECKING:  # pragma: no cover
    from monitor.event_bus import EventBus

__all__ = ["IdleJobs"]

#: How long a final waits for a piece of its turn being made beside it (a
#: safety net: it takes a model call, well under a second; after this the final
#: makes it itself).
PIECE_WAIT_S = 10.0


class IdleJobs:
    """Speculations, pieces and partials of one live call."""

    bus: EventBus
    _cv: threading.Condition
    _idle: IdleChooser
    _now: tuple[float, float]
    _clock: Callable[[], float]
    _speculating: dict[str, tuple[float, float, int]]
    _speculated: dict[str, tuple[tuple[float, float, int], object]]
    _partials: dict[str, PartialState]
    _work: Callable[..., None]
    _transcribe: Callable[..., Transcript | None]
    _transcribe_utterance: Callable[..., Transcript | None]
    speculations: int
    speculations_given_up: int
    pieces_ahead: int
    pieces_reused: int
    partials: int
    partials_cancelled: int
    partials_stale: int

    def _heard_at(self, t_end: float) -> float:
        audio, clock = self._now
        return clock - (audio - t_end)

    def _idle_job(self, free: frozenset[Tier] = frozenset((Tier.SPECULATION, Tier.PARTIAL))
                  ) -> Job | None:
        """A speculation or partial of a tier in ``free``, when one is due (the
        scheduler asks when a worker is idle)."""
        with self._cv:
            spec = self._speculation_due() if Tier.SPECULATION in free else None
            piece = self._idle.piece_due() if spec is None else None
            if piece is not None:
                speaker, key, samples = piece
                self._idle.pieces_running.add((speaker, *key))
                # in the side slot when it is free: the main slot stays free for the
                # speculation of the turn's end, which may come while this runs
                tier = Tier.PARTIAL if Tier.PARTIAL in free else Tier.SPECULATION
                return Job(tier, speaker, self._clock(), len(samples) / SAMPLE_RATE,
                           run=lambda deadline: self._work(self._run_piece, speaker, key, samples),
                           dropped=lambda reason: self._piece_dropped(speaker, key))
            due = None if spec is not None or Tier.PARTIAL not in free else self._partial_due()
            u = spec or due
            if u is None:
                return None
            heard_at = self._heard_at(u.t_end)
            if spec is not None:
                key = utterance_key(spec)
                self._speculating[spec.speaker] = key
            else:
                state = self._partials[due.speaker]
        if spec is not None:
            return Job(Tier.SPECULATION, u.speaker, heard_at, len(u.samples) / SAMPLE_RATE,
                       run=lambda deadline: self._work(self._speculate, spec),
                       dropped=lambda reason: self._unmark_speculating(spec.speaker, key))

        def give_up(deadline: Deadline) -> Callable[[], bool]:
            return lambda: deadline.cancelled() or self._locked(self._partial_gives_way, due.speaker, state)

        return Job(Tier.PARTIAL, u.speaker, heard_at, len(u.samples) / SAMPLE_RATE,
                   run=lambda deadline: self._work(self._run_partial, due, state, give_up(deadline)),
                   dropped=lambda reason: self._locked(self._idle.given_up, due.speaker, state))

    def _partial_gives_way(self, speaker: str, state: PartialState) -> bool:
        """A partial under way stops (between runs of decoding) once its utterance's
        final is in (it would be stale) or anyone's pause says a speculation is near:
        with one worker it needs that worker, and with two the speculation runs
        sooner with the machine to itself (``benchmarks/live_latency.py``
        --fixture long_turns, quiet: lag p95 1.16 s when a partial kept going
        through pauses, 1.08 s when it gave way).  A partial given up is tried
        again as soon as the speaker talks on (``IdleChooser.given_up``)."""
        if self._partials[speaker] is not state:
            return True
        return self._idle.final_may_be_due()

    def _unmark_speculating(self, speaker: str, key: tuple[float, float, int]) -> None:
        """A speculation handed out but never run (a final came in first)."""
        with self._cv:
            if self._speculating.get(speaker) == key:
                del self._speculating[speaker]

    def _speculation_due(self) -> Utterance | None:
        return self._idle.speculation_due()

    def _partial_due(self) -> Utterance | None:
        return self._idle.partial_due()

    def _locked(self, check: Callable[..., bool], *args: Any) -> bool:
        with self._cv:
            return check(*args)

    def _speculate(self, u: Utterance) -> None:
        """Transcribe an utterance whose end is being confirmed, in one go: its
        transcript is what the final will show, and a decoding that stops to look
        whether the speaker went on costs more than it saves (see
        ``short_context._generate``).  Given up before the model call if they did,
        or once the audio is encoded (the decoding saved: a speculation that runs on
        after its speaker went on holds the call's main slot, and the speculation of
        the turn's real end would wait for it)."""
        def gone_on() -> bool:
            return self._locked(self._idle.resumed, u)

        try:
            tr = None if gone_on() else self._transcribe_utterance(u.speaker, u.t, u.samples, u.cuts,
                                                                   abandon=gone_on)
        finally:
            with self._cv:
                self._speculating.pop(u.speaker, None)
        with self._cv:
            if tr is None:                  # the speaker went on: not the end after all
                self.speculations_given_up += 1
                return
            self._speculated[u.speaker] = (utterance_key(u), tr)
            self.speculations += 1

    def _run_partial(self, cur: Utterance, state: PartialState, give_up: Callable[[], bool]) -> None:
        """Transcribe the words so far of ``cur`` (given up between runs of decoding
        when ``give_up`` says) and emit the stable prefix, unless the utterance's
        final came in meanwhile (``state`` is no longer its speaker's): a final may
        run beside a partial, and a partial after it would be stale."""
        # the pieces of the turn done ahead stand; only the rest is transcribed
        with self._cv:
            heads, start = done_ahead(cur.t, cur.pieces(), self._idle.pieces[cur.speaker])
        # greedy: decoded in runs it can give up between, and its words are only a preview
        tr = self._transcribe(cur.speaker, cur.samples[start:], give_up, beam=1)
        if tr is None:
            with self._cv:
                self.partials_cancelled += 1
                self._idle.given_up(cur.speaker, state)
            return
        if reject_reason(tr.text, avg_logprob=tr.avg_logprob, no_speech_prob=tr.no_speech_prob,
                         compression_ratio=tr.compression_ratio, language=tr.language):
            return
        with self._cv:
            if self._partials[cur.speaker] is not state:
                self.partials_stale += 1
                return
            done = " ".join(heads)
            text = stable_prefix(state, f"{done} {tr.text.strip()}", committed=len(done.split()))
            if text is None:
                return
            self.partials += 1
            # emitted under the lock, so the final (which resets ``state`` under it
            # first) can never come out before a partial of its own utterance
            self.bus.emit("utterance_partial", cur.t, cur.speaker, t_end=cur.t_end,
                          text=text, language=tr.language)

    def _piece_done(self, speaker: str, key: Key) -> Transcript | None:
        """A piece made ahead, waited for if it is being made (beside the final, in
        the side slot); None if it was not made."""
        with self._cv:
            self._cv.wait_for(lambda: (speaker, *key) not in self._idle.pieces_running,
                              timeout=PIECE_WAIT_S)
            tr = self._idle.pieces[speaker].get(key)
            if tr is not None:
                self.pieces_reused += 1
            return tr

    def _piece_dropped(self, speaker: str, key: Key) -> None:
        with self._cv:
            self._idle.pieces_running.discard((speaker, *key))
            self._cv.notify_all()

    def _run_piece(self, speaker: str, key: Key, samples: np.ndarray) -> None:
        """Transcribe a piece of a long turn ahead, while its speaker talks on."""
        tr = None
        try:
            tr = self._transcribe(speaker, samples)
        finally:
            with self._cv:
                if tr is not None:
                    self._idle.store_piece(speaker, key, tr)
                    self.pieces_ahead += 1
                self._idle.pieces_running.discard((speaker, *key))
                self._cv.notify_all()
