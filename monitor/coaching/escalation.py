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

Weights and thresholds are settings (``[coach.escalation]``).
"""

from __future__ import annotations

import math
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


class EscalationState:
    def __init__(self, params: EscalationParams) -> None:
        self.p = params
        self.score = 0.0
        self.level = "calm"
        self.peak = "calm"
        self._t = 0.0
        self._abusive_until = -1.0
        self._hard_at = -1e9
        self._decay = math.log(2) / params.half_life_s

    def _advance(self, t: float) -> None:
        if t > self._t:
            self.score *= math.exp(-self._decay * (t - self._t))
            self._t = t

    def signal(self, t: float, name: str) -> Optional[str]:
        """Add a signal at audio time ``t``; returns the new level if it changed."""
        self._advance(t)
        self.score = max(0.0, self.score + self.p.weights.get(name, 0.0))
        if name in HARD_SIGNALS:
            self._hard_at = t
        if name == "abuse":
            self._abusive_until = t + self.p.abusive_hold_s
        return self._relevel(t)

    def tick(self, t: float) -> Optional[str]:
        """Let time pass; returns the new level if decay changed it."""
        self._advance(t)
        return self._relevel(t)

    def _relevel(self, t: float) -> Optional[str]:
        p = self.p
        if t < self._abusive_until:
            new = "abusive"
        else:
            rank = LEVELS.index(self.level) if self.level != "abusive" else 2
            up = 2 if self.score >= p.escalated_at else 1 if self.score >= p.tense_at else 0
            # hysteresis: stay at the current rank until the score falls well below it
            down = (2 if self.score >= p.escalated_at * p.down_factor
                    else 1 if self.score >= p.tense_at * p.down_factor else 0)
            level = max(up, min(rank, down))
            if level == 2 and t - self._hard_at > p.hard_window_s:
                level = 1                    # loud, but nobody pushed the matter: tense
            new = LEVELS[level]
        if new == self.level:
            return None
        self.level = new
        if LEVELS.index(new) > LEVELS.index(self.peak):
            self.peak = new
        return new
