"""Which prompts reach the operator's screen, so they are not learned to be ignored.

- One prompt on screen at a time: a new one shows only if nothing is on screen,
  or it outranks the one showing (which it then replaces).
- A cooldown per kind (``cooldown_s``, default 20 s).
- De-duplication: the same prompt is not shown again within ``dedupe_s``.
- A global limit: at most ``per_minute`` prompts in any 60 s (default 3).  The
  safety prompts (:data:`SAFETY_KINDS`: a boundary against abuse, hold-and-breathe)
  are not held back by it: on a call that heats up fast, the limit would otherwise
  be spent on advice before the insult that matters most.
- The same prompt at most ``max_per_call`` times a call (default 2); the coach
  then offers the next rung instead (:meth:`PromptPolicy.times_shown`).
- A prompt can be withdrawn (its cause, a trigger in a partial transcript, was not
  confirmed by the final one): it leaves the screen and no longer counts as shown,
  for the limits as for the summary.
- An acknowledgement (used or dismissed) takes the prompt off the screen and
  feeds the per-kind override rate (dismissed / acknowledged).

Times are audio seconds, so a replay makes exactly the same decisions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from monitor.vocabulary import PROMPT_PRIORITY

#: Prompt kinds the per-minute limit never holds back.
SAFETY_KINDS: tuple[str, ...] = ("boundary", "breathe")


class PolicyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cooldown_s: float = Field(20.0, ge=0, le=600)
    dedupe_s: float = Field(120.0, ge=0, le=3600)
    per_minute: int = Field(3, ge=1, le=60)
    max_per_call: int = Field(2, ge=1, le=100, description="the same prompt at most this often a call")
    ttl_s: float = Field(15.0, gt=0, le=300)


@dataclass
class _Shown:
    id: str            # the instance on screen (what an acknowledgement names)
    kind: str
    priority: int
    t: float
    until: float


@dataclass
class _Record:
    """What showing one instance changed, so a withdrawal can put it back."""

    prompt_id: str
    kind: str
    t: float
    kind_before: float | None
    id_before: float | None


class PromptPolicy:
    def __init__(self, params: PolicyParams) -> None:
        self.p = params
        self.current: _Shown | None = None
        self._by_kind: dict[str, float] = {}
        self._by_id: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self.suppressed: dict[str, int] = {}
        self.shown: dict[str, int] = {}
        self.acks: dict[str, dict[str, int]] = {}
        self._acked: set[str] = set()
        self._per_call: dict[str, int] = {}          # playbook prompt id -> times shown
        self._last_at: dict[str, float] = {}         # playbook prompt id -> last shown at
        self._records: dict[str, _Record] = {}       # instance -> what showing it changed
        self.withdrawn: dict[str, int] = {}

    def times_shown(self, prompt_id: str) -> int:
        """How often this playbook prompt has been shown in the call (withdrawn ones not counted)."""
        return self._per_call.get(prompt_id, 0)

    def last_shown(self, prompt_id: str) -> float | None:
        return self._last_at.get(prompt_id)

    def offer(self, t: float, prompt_id: str, kind: str, ttl: float | None = None,
              instance: str | None = None) -> tuple[bool, str]:
        """Decide on a candidate at audio time ``t``: (show?, reason).  ``prompt_id``
        is the playbook prompt (for de-duplication), ``instance`` the id its event
        will carry (what acknowledgements name); ``ttl``: how long it stays on
        screen if shown (default ``ttl_s``)."""
        priority = PROMPT_PRIORITY.get(kind, 0)
        while self._recent and t - self._recent[0] >= 60.0:
            self._recent.popleft()
        on_screen = self.current if self.current and t < self.current.until else None
        reason = ""
        if kind in self._by_kind and t - self._by_kind[kind] < self.p.cooldown_s:
            reason = "cooldown"
        elif prompt_id in self._by_id and t - self._by_id[prompt_id] < self.p.dedupe_s:
            reason = "duplicate"
        elif self.times_shown(prompt_id) >= self.p.max_per_call:
            reason = "max_per_call"
        elif len(self._recent) >= self.p.per_minute and kind not in SAFETY_KINDS:
            reason = "rate_limit"
        elif on_screen is not None and priority <= on_screen.priority:
            reason = "outranked"
        if reason:
            self.suppressed[reason] = self.suppressed.get(reason, 0) + 1
            return False, reason
        replaced = on_screen.id if on_screen is not None else ""
        self.current = _Shown(instance or prompt_id, kind, priority, t,
                              t + (self.p.ttl_s if ttl is None else ttl))
        self._records[instance or prompt_id] = _Record(
            prompt_id, kind, t, self._by_kind.get(kind), self._by_id.get(prompt_id))
        self._by_kind[kind] = t
        self._by_id[prompt_id] = t
        self._recent.append(t)
        self.shown[kind] = self.shown.get(kind, 0) + 1
        self._per_call[prompt_id] = self.times_shown(prompt_id) + 1
        self._last_at[prompt_id] = t
        return True, f"replaces {replaced}" if replaced else "shown"

    def withdraw(self, instance: str) -> bool:
        """Take back a shown instance: off the screen, and its cooldown, de-duplication,
        per-minute and per-call counts undone (as far as nothing newer replaced
        them).  False if it was never shown (or already withdrawn)."""
        rec = self._records.pop(instance, None)
        if rec is None:
            return False
        if self.current is not None and self.current.id == instance:
            self.current = None
        if self._by_kind.get(rec.kind) == rec.t:
            _restore(self._by_kind, rec.kind, rec.kind_before)
        if self._by_id.get(rec.prompt_id) == rec.t:
            _restore(self._by_id, rec.prompt_id, rec.id_before)
            _restore(self._last_at, rec.prompt_id, rec.id_before)
        if rec.t in self._recent:
            self._recent.remove(rec.t)
        self.shown[rec.kind] -= 1
        if not self.shown[rec.kind]:
            del self.shown[rec.kind]
        self._per_call[rec.prompt_id] -= 1
        self.withdrawn[rec.kind] = self.withdrawn.get(rec.kind, 0) + 1
        return True

    def ack(self, prompt_id: str, kind: str, action: str) -> None:
        """An acknowledgement of the prompt instance ``prompt_id``; only the first
        one counts (a second key press or a second open page adds nothing)."""
        if prompt_id in self._acked:
            return
        self._acked.add(prompt_id)
        counts = self.acks.setdefault(kind, {"used": 0, "dismissed": 0})
        counts[action] = counts.get(action, 0) + 1
        if self.current is not None and self.current.id == prompt_id:
            self.current = None

    def override_rate(self) -> dict[str, float]:
        out = {}
        for kind, c in sorted(self.acks.items()):
            total = c.get("used", 0) + c.get("dismissed", 0)
            if total:
                out[kind] = round(c.get("dismissed", 0) / total, 3)
        return out


def _restore(table: dict[str, float], key: str, before: float | None) -> None:
    if before is None:
        table.pop(key, None)
    else:
        table[key] = before
