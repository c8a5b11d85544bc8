"""What a live call's transcriber does when no final waits: speculative finals,
pieces of long turns and partial transcripts, chosen from the endpointers' state.

Speculative finals: once a speaker has been silent for ``speculate_ms`` (200 ms)
the utterance is transcribed as it stands; if it then ends (at
``end_silence_ms``) with no more speech, its samples are exactly those
transcribed, and that transcript is used at once instead of a second model call.
If speech resumes, the speculation is simply dropped (counted).

Partial transcripts: while the customer talks past ``partial_after_s`` (1.5 s),
the growing utterance is transcribed (at most every ``partial_every_s`` of new
audio, only while they are actually voicing) and ``utterance_partial`` carries
the words it agrees on with one of the turn's last few (:func:`stable_prefix`);
the final ``utterance`` supersedes them.  1.5 s, so that a manager demand or a
threat in a turn of 3-4 s can prompt before the turn ends
(``benchmarks/live_latency.py --fixture long_turns``).  Every 1 s: at 0.8 s the
insult of a held-out call under load came 1.4-1.6 s before its turn ended instead
of at its end, but a partial under way when a turn ends slows its final, and
quiet-machine lag p95 on ``long_turns`` went from 0.85-0.87 s to 0.94-1.04 s.  The
operator's own turns get none unless ``operator_partials`` is set: the coach's
early triggers are the customer's, and each partial is a model call that a
final may have to wait behind.

Pieces of a long turn (``monitor/asr/pieces.py``): once a cut the endpointer
made in a pause is sure to stay (the speaker talked on past it), the piece
before it is transcribed (after a speculation that is due; in the call's side
slot when it is free, so the speculation of the turn's end never waits behind
it) and kept for the turn's final, its speculation and its partials, so that
only the last piece is left when the turn ends.

A partial hardly delays a final.  With two workers (a live call on two cores
or more) the speculation or final runs beside it, on the other core, and the
call's partials run one at a time.  And none is started while anyone's
utterance is in a pause (its final may be moments away); one under way gives up
between two runs of decoding (8 tokens, then twice as many each run; counted as
``partials_cancelled``) as soon as a final waits that no free worker can take,
its utterance's final is in, or anyone's pause reaches ``speculate_ms`` less
100 ms, but at least 200 ms (so the speculation of that utterance has the
machine to itself; shorter pauses come between words).  One given up is tried
again as soon as its speaker talks on.  With one worker a final so waits at
most for the partial's encoder pass (0.1-0.3 s in a short context) and the run
under way.  A partial that comes back after its utterance's final came in is
not shown (``partials_stale``).  A speculation is decoded in one go (stopping
to look costs more decoding than it saves); it is given up before it starts, or
once its audio is encoded, if its speaker has talked again (counted as
``given_up``).  While the transcript is delayed the scheduler hands out no
idle work at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from audio.endpointing import Endpointer, Utterance

#: hypotheses of a turn a new one is compared with (see :func:`stable_prefix`)
HYPOTHESES_KEPT = 4


@dataclass
class PartialState:
    heard_s: float = 0.0               # audio length at the last partial attempt
    tried_from: float = 0.0            # heard_s before it (restored when it is given up)
    previous: list[list[str]] = field(default_factory=list)   # the last hypotheses' words
    emitted: int = 0                   # words of the stable prefix already sent


def utterance_key(u: Utterance) -> tuple[float, float, int]:
    """What makes a speculation stand for a final: the same audio, exactly."""
    return (u.t, u.t_end, len(u.samples))


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.casefold())


def stable_prefix(state: PartialState, text: str, committed: int = 0) -> str | None:
    """The words this hypothesis agrees on with one of the turn's last
    :data:`HYPOTHESES_KEPT` hypotheses (the longest such prefix), when they are
    more than what was already sent (else None); remembers this hypothesis.  Any
    of the last few, not only the one before: greedy decoding of a growing turn
    flips a word now and then and back ("a useless idiot" -> "a user-cidit" ->
    "a useless idiot"), and a flip against the one before would hold back every
    word after it until two hypotheses in a row agree again, the insult with them.
    The first ``committed`` words are stable whatever the others said: they are
    the final's own (pieces of the turn transcribed ahead, ``monitor/asr/pieces.py``)."""
    words = text.split()
    stable = max((_agreed(earlier, words) for earlier in state.previous), default=0)
    stable = max(stable, min(committed, len(words)))
    state.previous = [*state.previous, words][-HYPOTHESES_KEPT:]
    if stable <= state.emitted:
        return None
    state.emitted = stable
    return " ".join(words[:stable])


def _agreed(a: list[str], b: list[str]) -> int:
    """How many leading words two hypotheses share."""
    n = 0
    for x, y in zip(a, b):
        if _norm(x) != _norm(y):
            break
        n += 1
    return n


class IdleChooser:
    """Picks the next speculation or partial for one call (call it under the
    stage's lock: it reads the endpointers)."""

    def __init__(self, endpointers: list[Endpointer], speculate_ms: int, partial_after_s: float,
                 partial_every_s: float, *, operator_partials: bool = False) -> None:
        self.endpointers = endpointers
        self.partial_speakers = {ep.speaker for ep in endpointers
                                 if operator_partials or ep.speaker != "operator"}
        self.speculate_ms = speculate_ms
        self.partial_after_s = partial_after_s
        self.partial_every_s = partial_every_s
        self.partials = {ep.speaker: PartialState() for ep in endpointers}
        self.speculated: dict[str, tuple[tuple[float, float, int], object]] = {}
        # pieces of long turns transcribed ahead: speaker -> {(t, start, end): transcript}
        self.pieces: dict[str, dict[tuple[float, int, int], object]] = {
            ep.speaker: {} for ep in endpointers}
        self.pieces_running: set[tuple[str, float, int, int]] = set()

    def speculation_due(self) -> Utterance | None:
        """An utterance that has probably just ended and is not speculated yet."""
        if not self.speculate_ms:
            return None
        for ep in self.endpointers:
            u = ep.ending(self.speculate_ms)
            if u is None:
                continue
            done = self.speculated.get(u.speaker)
            if done is None or done[0] != utterance_key(u):
                return u
        return None

    def piece_due(self) -> tuple[str, tuple[float, int, int], np.ndarray] | None:
        """A piece of a long turn, before a cut sure to stay, not transcribed yet:
        (speaker, key, samples)."""
        for ep in self.endpointers:
            bounds = ep.sure_pieces()
            if not bounds:
                continue
            t = ep.speech_start
            done = self.pieces[ep.speaker]
            for a, b in bounds:
                key = (t, a, b)
                if key not in done and (ep.speaker, *key) not in self.pieces_running:
                    return ep.speaker, key, ep.piece(a, b)
        return None

    def store_piece(self, speaker: str, key: tuple[float, int, int], tr: object) -> None:
        """A piece's transcript, kept for its utterance's final (older utterances'
        pieces are let go: at most one turn's are kept per speaker)."""
        done = self.pieces[speaker]
        for old in [k for k in done if k[0] != key[0]]:
            del done[old]
        done[key] = tr

    def partial_due(self) -> Utterance | None:
        """A growing utterance worth a partial now."""
        if any(ep.collecting and not ep.still_talking for ep in self.endpointers):
            return None             # someone's final may be due any moment
        for ep in self.endpointers:
            if not ep.still_talking or ep.speaker not in self.partial_speakers:
                continue
            heard = ep.collected_seconds
            state = self.partials[ep.speaker]
            if heard < self.partial_after_s or heard - state.heard_s < self.partial_every_s:
                continue
            cur = ep.current()
            if cur is None:
                continue
            state.tried_from, state.heard_s = state.heard_s, heard
            return cur
        return None

    def final_may_be_due(self) -> bool:
        """Someone's utterance has paused long enough that its speculation (or
        final) is near: a partial under way should give way."""
        near = max(200, (self.speculate_ms or 500) - 100)   # pauses between words are shorter
        return any(ep.collecting and ep.silence_ms >= near for ep in self.endpointers)

    def resumed(self, u: Utterance) -> bool:
        """The speaker of a speculated utterance has talked again: it was not its end.
        (Once the utterance has ended its final waits for the speculation.)"""
        ep = next(ep for ep in self.endpointers if ep.speaker == u.speaker)
        if ep.speech_start is None or abs(ep.speech_start - u.t) > 1e-6:
            return False
        return ep.still_talking or ep.silence_ms < self.speculate_ms - 20

    def given_up(self, speaker: str, state: PartialState) -> None:
        """A partial was given up before its words came: the next may come as soon
        as the speaker talks on, not a whole ``partial_every_s`` later."""
        if self.partials[speaker] is state:
            state.heard_s = state.tried_from

    def reset(self, speaker: str) -> None:
        """The speaker's utterance ended (its final is in): start partials afresh."""
        self.partials[speaker] = PartialState()
