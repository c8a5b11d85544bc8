"""Triggers raised from partial transcripts, until the final transcript settles them.

A long customer turn is transcribed while it goes on (``utterance_partial``: the
words a hypothesis agrees on with one of the turn's last few), so a manager
demand, a legal threat or an insult inside it can prompt the operator before the
customer has finished.
The final ``utterance`` then has the last word:

- a partial trigger whose id the final also finds is **confirmed** (nothing is
  emitted again);
- one whose id the final lacks, while the final finds another trigger of the same
  category that no partial raised, is confirmed by it (a sharper hypothesis may
  match another phrasing of the same demand: still one trigger, one prompt);
- any other is **withdrawn**: the final contradicts it.

Matching a final to its partials: same speaker, the partial's utterance start
within the final's span (a final can be several utterances merged under load).
Partials of an utterance whose final never comes (skipped under load, or rejected
as not speech) are simply kept as raised once a later final of the speaker
arrives: nothing contradicted them.

This module only keeps the book; the coach emits the events and undoes what a
withdrawn trigger did (:mod:`monitor.coaching.coach`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

#: slack when comparing a partial's utterance start with a final's span (s)
SLACK_S = 0.05
#: pending partial triggers kept per speaker (a turn raises a handful)
MAX_PENDING = 64


class _Found(Protocol):
    id: str
    category: str


@dataclass(frozen=True)
class PartialTrigger:
    """A trigger raised from a partial transcript, not yet settled by the final."""

    speaker: str
    t: float            # the utterance's start: the trigger event's t
    id: str
    category: str
    text: str
    signal_at: float    # audio time its escalation signal was given (the partial's end)
    prompt: str = ""    # the prompt instance it caused, if one was shown


class PendingPartials:
    def __init__(self) -> None:
        self._pending: dict[str, list[PartialTrigger]] = {}
        self.dropped = 0          # pending triggers let go unsettled (MAX_PENDING)

    def add(self, trigger: PartialTrigger) -> None:
        mine = self._pending.setdefault(trigger.speaker, [])
        mine.append(trigger)
        if len(mine) > MAX_PENDING:
            del mine[0]
            self.dropped += 1

    def raised(self, speaker: str, t: float, t_end: float) -> list[PartialTrigger]:
        """The pending triggers a final of ``speaker`` over [t, t_end] settles."""
        return [p for p in self._pending.get(speaker, ())
                if t - SLACK_S <= p.t <= t_end + SLACK_S]

    def settle(self, speaker: str, t: float, t_end: float,
               found: Sequence[_Found]) -> tuple[list[_Found], list[PartialTrigger]]:
        """The final transcript of ``speaker`` over [t, t_end] found ``found``: returns
        (what is new in it, the pending triggers it withdraws).  Every pending
        trigger of the speaker that started before ``t_end`` is settled."""
        mine = self._pending.get(speaker, [])
        settled = self.raised(speaker, t, t_end)
        self._pending[speaker] = [p for p in mine if p.t > t_end + SLACK_S]
        raised_ids = {p.id for p in settled}
        new = list(found)
        withdrawn: list[PartialTrigger] = []
        for p in settled:
            same = next((m for m in new if m.id == p.id), None)
            if same is None:     # another phrasing of the same category no partial raised
                same = next((m for m in new if m.category == p.category
                             and m.id not in raised_ids), None)
            if same is None:
                withdrawn.append(p)
            else:
                new = [m for m in new if m.id != same.id]
        return new, withdrawn
