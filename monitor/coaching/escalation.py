"""Escalation state of a call: calm, tense, escalated, abusive.

A score adds up the weight of each signal (a raised customer voice, a manager
demand, a legal threat, an operator telling the customer to calm down, ...),
and halves every ``half_life_s`` seconds of call time, so a call comes back down
as things calm.  Helpful operator moves (empathy, paraphrase, a plan) take a
little off.  The level follows the score with hysteresis (it goes down only
when the score falls to ``down_factor`` of the threshold it went up at), and
abuse holds the call at ``abusive`` for ``abusive_hold_s`` after the last insult.

"Escalated" also needs a *hard* signal within the last ``hard_window_s``: a
manager demand, a legal or cancellation threat, an insult, or shouting that goes
on (``sustained_raised_voice``).  Raised voices and complaints about calling
again make a call tense however many there are; it takes the customer pushing
the matter, or shouting for long, to call it escalated.

A signal can be taken back (:meth:`EscalationState.retract`: a trigger found in a
partial transcript that the final transcript withdrew): the state is then what
it would be had the signal never come, peak included.  That is exact because
between signals the score only decays, so the level reached at a time does not
depend on how often it was looked at in between; the recent signals are kept
for it (:data:`RECENT_SIGNALS`), older ones are folded into a base tally.

Weights and thresholds are settings (``[coach.escalation]``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from monitor.vocabulary import LEVELS

DEFAULT_WEIGHTS = {
    "customer_raised_voice": 2.0,
    "manager_request": 3.0,
    "legal_threat": 4.0,
    "churn_threat": 3.0,
    "repeat_contact": 1.5,
    "abuse": 4.0,
    "operator_raised_voice": 1.5,
    "overlap": 0.5,
    "monologue": 1.0,
    "calm_down": 1.0,
    "deflect": 1.0,
    "blame": 1.0,
    "dont_know": 0.5,
    "empathy": -1.0,
    "paraphrase": -1.0,
    "plan": -1.0,
}

HARD_SIGNALS = ("manager_request", "legal_threat", "churn_threat", "abuse", "sustained_raised_voice")


class EscalationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    half_life_s: float = Field(45.0, gt=1, le=3600)
    tense_at: float = Field(1.5, gt=0)
    escalated_at: float = Field(4.0, gt=0)
    hard_window_s: float = Field(120.0, gt=0, le=3600)
    down_factor: float = Field(0.7, gt=0, le=1)
    abusive_hold_s: float = Field(90.0, ge=0, le=3600)
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


#: signals kept for :meth:`EscalationState.retract` (older ones cannot be taken back)
RECENT_SIGNALS = 256


@dataclass
class _Tally:
    """Where the escalation stands at audio time ``t``."""

    score: float = 0.0
    level: str = "calm"
    peak: str = "calm"
    t: float = 0.0
    abusive_until: float = -1.0
    hard_at: float = -1e9


class EscalationState:
    def __init__(self, params: EscalationParams) -> None:
        self.p = params
        self._now = _Tally()
        self._base = _Tally()                     # before the oldest signal in _recent
        self._recent: deque[tuple[float, str]] = deque()
        self._decay = math.log(2) / params.half_life_s

    @property
    def score(self) -> float:
        return self._now.score

    @property
    def level(self) -> str:
        return self._now.level

    @property
    def peak(self) -> str:
        return self._now.peak

    def signal(self, t: float, name: str) -> Optional[str]:
        """Add a signal at audio time ``t``; returns the new level if it changed."""
        self._recent.append((t, name))
        if len(self._recent) > RECENT_SIGNALS:
            old_t, old_name = self._recent.popleft()
            self._apply(self._base, old_t, old_name)
        return self._apply(self._now, t, name)

    def tick(self, t: float) -> Optional[str]:
        """Let time pass; returns the new level if decay changed it."""
        self._advance(self._now, t)
        return self._relevel(self._now, t)

    def retract(self, t: float, name: str, at: float) -> Optional[str]:
        """Take back the signal ``name`` given at audio time ``at``, as if it had never
        come; returns the level at ``t`` if that changed (None as well when the
        signal is too old to be taken back, or was never given)."""
        try:
            self._recent.remove((at, name))
        except ValueError:
            return None
        before = self._now.level
        now = replace(self._base)
        for when, what in self._recent:
            self._apply(now, when, what)
        self._advance(now, max(t, self._now.t))
        self._relevel(now, max(t, self._now.t))
        self._now = now
        return now.level if now.level != before else None

    # --- the arithmetic, on one tally --------------------------------------------------
    def _advance(self, x: _Tally, t: float) -> None:
        if t > x.t:
            x.score *= math.exp(-self._decay * (t - x.t))
            x.t = t

    def _apply(self, x: _Tally, t: float, name: str) -> Optional[str]:
        self._advance(x, t)
        x.score = max(0.0, x.score + self.p.weights.get(name, 0.0))
        if name in HARD_SIGNALS:
            x.hard_at = t
        if name == "abuse":
            x.abusive_until = t + self.p.abusive_hold_s
        return self._relevel(x, t)

    def _relevel(self, x: _Tally, t: float) -> Optional[str]:
        p = self.p
        if t < x.abusive_until:
            new = "abusive"
        else:
            rank = LEVELS.index(x.level) if x.level != "abusive" else 2
            up = 2 if x.score >= p.escalated_at else 1 if x.score >= p.tense_at else 0
            # hysteresis: stay at the current rank until the score falls well below it
            down = (2 if x.score >= p.escalated_at * p.down_factor
                    else 1 if x.score >= p.tense_at * p.down_factor else 0)
            level = max(up, min(rank, down))
            if level == 2 and t - x.hard_at > p.hard_window_s:
                level = 1                    # loud, but nobody pushed the matter: tense
            new = LEVELS[level]
        if new == x.level:
            return None
        x.level = new
        if LEVELS.index(new) > LEVELS.index(x.peak):
            x.peak = new
        return new
