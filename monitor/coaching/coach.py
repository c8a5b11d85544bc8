"""The coach: reads the call's events, emits triggers, escalation state and prompts.

It is a sink on the event bus (and a pipeline stage, for the end of the call):

- ``utterance`` / ``utterance_partial`` -> phrase ``trigger`` events (the playbook
  of the utterance's language).  A trigger found in a partial transcript prompts
  at once, before the speaker has finished; the final transcript confirms it
  (nothing is repeated) or withdraws it (``trigger_withdrawn``: its prompt leaves
  the screen, its weight leaves the escalation state, and neither counts in the
  summary; :mod:`monitor.coaching.partials`);
- acoustic events -> cues: the customer's raised voice, the operator's raised
  voice, the operator talking over the customer, a long silence, a customer
  monologue;
- triggers and cues -> the escalation ``state`` (with decay) and candidate
  prompts, which the :class:`~monitor.coaching.prompt_policy.PromptPolicy` lets through
  or holds back (counted).  The same advice is shown at most twice a call
  (``policy.max_per_call``); a cue whose advice is spent climbs to the next rung
  (the playbook's ``next_rung`` prompts, in order: a supervisor's help, then a
  call-back), and a prompt shown again says so in its ``why`` (``repeat``, or
  ``next_rung`` naming the advice it follows);
- ``prompt_ack`` (from the operator's screen) -> the per-kind override rate;
- at the end: the coaching part of the summary (timeline, peak state, the five
  steps covered, harmful phrases, prompts shown/used/dismissed), an incident
  record if the call reached ``escalated``, and a recovery nudge for the operator
  (at the call's end, its ``why.since`` saying when the call got heated).

Everything is decided on audio time, so a replay gives the same prompts.

The playbook of the call's language is loaded (and checked) when the coach is
made, so a broken one fails before the call starts; its trigger patterns are
compiled when the first words in a language arrive (a call without
transcription compiles none), once per process (:func:`~monitor.coaching.triggers.matcher_for`).
Events are dispatched on their class (:mod:`monitor.events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from monitor.coaching.escalation import EscalationParams, EscalationState
from monitor.coaching.partials import PartialTrigger, PendingPartials
from monitor.coaching.playbook import Playbook, Prompt, load_playbook
from monitor.coaching.prompt_policy import PolicyParams, PromptPolicy
from monitor.coaching.triggers import Match, matcher_for
from monitor.event_bus import EventBus
from monitor.events import (Event, Level, Monologue, Overlap, PromptAck, RaisedVoice,
                            RaisedVoiceEnd, Silence, Utterance, UtterancePartial)
from monitor.vocabulary import (ACK_ACTIONS, CUSTOMER_CATEGORIES, HEATED, LANGUAGES,
                                OPERATOR_HARMFUL, OPERATOR_HELPFUL, PROMPT_PRIORITY, RUNG_CUE)

PACER = {"inhale_s": 4, "exhale_s": 6, "cycles": 3}
#: the kind of prompt that answers each cue best (others for the cue are fall-backs)
ANSWER_KIND = {
    "abuse": "boundary", "legal_threat": "plan", "manager_request": "plan",
    "churn_threat": "de_escalate", "repeat_contact": "de_escalate",
    "customer_raised_voice": "de_escalate", "operator_raised_voice": "breathe",
    "overlap": "listen", "monologue": "listen", "silence": "listen", "no_empathy": "empathy",
    "calm_down": "technique", "deflect": "technique", "blame": "technique", "dont_know": "technique",
}
#: cues about the operator's own habits: their advice, once spent, climbs no ladder
NO_LADDER = ("operator_raised_voice", "overlap") + OPERATOR_HARMFUL


class CoachParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    language: str = Field("en", description="language of prompts until the call's own is known")
    playbook_dir: str | None = None
    breathe_after_s: float = Field(10.0, ge=0, le=600,
                                   description="escalated this long -> hold-and-breathe")
    raised_prompt_s: float = Field(10.0, ge=0, le=600,
                                   description="customer raised voice this long within 60 s -> de-escalate")
    escalation: EscalationParams = EscalationParams()
    policy: PolicyParams = PolicyParams()


@dataclass
class _Cue:
    name: str            # category or acoustic cue
    speaker: str | None
    t: float
    quote: str = ""
    db: float | None = None          # how far over their usual level, when loudness told
    effort: bool = False             # told by vocal effort alone (the level may not have risen)


def _raised_cue(name: str, e: RaisedVoice) -> _Cue:
    """A raised-voice cue; one found by vocal effort alone quotes no level (it can be
    under the speaker's usual after telephone gain control)."""
    if e.by == "effort":
        return _Cue(name, e.speaker, e.t_detected, effort=True)
    return _Cue(name, e.speaker, e.t_detected, db=e.db_over_baseline)


class Coach:
    def __init__(self, bus: EventBus, params: CoachParams) -> None:
        self.bus = bus
        self.p = params
        self.language = params.language if params.language in LANGUAGES else "en"
        self._playbooks: dict[str, Playbook] = {}
        self.playbook(self.language)          # a broken playbook fails before the call starts
        self.state = EscalationState(params.escalation)
        self.policy = PromptPolicy(params.policy)
        self.timeline: list[dict[str, Any]] = [{"t": 0.0, "level": "calm"}]
        self.triggers: list[dict[str, Any]] = []
        self.prompts: list[dict[str, Any]] = []
        self._kind_of: dict[str, str] = {}
        self._fired: set[tuple[str, float, str]] = set()
        self._partials = PendingPartials()
        self.withdrawn_triggers = 0
        self._raised: list[tuple[float, float]] = []      # customer raised spans (start, end)
        self._raised_open: float | None = None
        self._escalated_since: float | None = None
        self._breathed_at: float | None = None
        self._operator_overlaps = 0
        self.nudges: list[dict[str, Any]] = []
        self.ended = False

    # --- bus sink --------------------------------------------------------------
    def __call__(self, e: Event) -> None:
        match e:
            case Utterance() | UtterancePartial():
                self._on_words(e)
            case RaisedVoice(speaker="customer" | "call"):
                self._raised_open = e.t
                self._cue(_raised_cue("customer_raised_voice", e))
            case RaisedVoice():
                self._cue(_raised_cue("operator_raised_voice", e))
            case RaisedVoiceEnd(speaker="customer" | "call"):
                self._raised.append((e.t, e.t_end))
                self._raised_open = None
            case Overlap(speaker="operator"):
                self._operator_overlaps += 1
                self._cue(_Cue("overlap", "operator", e.t_detected))
            case Silence():
                self._cue(_Cue("silence", None, e.t_detected))
            case Monologue(speaker="customer"):
                self._cue(_Cue("monologue", "customer", e.t_detected))
            case PromptAck(prompt_id=pid, action=action):
                if pid in self._kind_of and action in ACK_ACTIONS:
                    self.policy.ack(pid, self._kind_of[pid], action)
            case Level():
                self._tick(e.t)

    # --- words -------------------------------------------------------------------
    def playbook(self, language: str) -> Playbook:
        """The playbook of a language, loaded (and validated) on first use."""
        if language not in self._playbooks:
            self._playbooks[language] = load_playbook(language, self.p.playbook_dir)
        return self._playbooks[language]

    def _on_words(self, e: Utterance | UtterancePartial) -> None:
        lang = e.language if e.language in LANGUAGES else self.language
        if e.speaker in ("customer", "call") and e.language in LANGUAGES:
            self.language = e.language
        # the trigger patterns are compiled here, for the first words in a language
        found = matcher_for(self.playbook(lang)).match(e.text, e.speaker or "call")
        speaker = e.speaker or ""
        if isinstance(e, UtterancePartial):
            for m in found:
                if (speaker, e.t, m.id) not in self._fired:
                    prompt = self._fire(e, m, lang)
                    self._partials.add(PartialTrigger(speaker, e.t, m.id, m.category, m.text,
                                                      e.t_end, prompt))
            return
        new, withdrawn = self._partials.settle(speaker, e.t, e.t_end, found)
        for p in withdrawn:
            self._withdraw(p, e.t_end)
        for m in new:
            if (speaker, e.t, m.id) not in self._fired:
                self._fire(e, m, lang)

    def _fire(self, e: Utterance | UtterancePartial, m: Match, lang: str) -> str:
        """Emit a trigger and act on it; returns the prompt instance it caused ('' if none)."""
        self._fired.add((e.speaker or "", e.t, m.id))
        self.bus.emit("trigger", e.t, e.speaker, category=m.category, id=m.id, text=m.text,
                      span=list(m.span), partial=isinstance(e, UtterancePartial),
                      t_detected=e.t_end, language=lang)
        self.triggers.append({"t": e.t, "speaker": e.speaker, "category": m.category,
                              "id": m.id, "text": m.text})
        return self._cue(_Cue(m.category, e.speaker, e.t_end, quote=m.text))

    def _withdraw(self, p: PartialTrigger, t: float) -> None:
        """The final transcript does not confirm ``p``: undo what it did, and say so."""
        self.withdrawn_triggers += 1
        speaker = p.speaker or None
        self.triggers = [x for x in self.triggers
                         if (x["t"], x["speaker"], x["id"]) != (p.t, speaker, p.id)]
        extra: dict[str, Any] = {}
        if p.prompt and self.policy.withdraw(p.prompt):
            extra["prompt"] = p.prompt
            self.prompts = [x for x in self.prompts if x["id"] != p.prompt]
        self.bus.emit("trigger_withdrawn", p.t, speaker, category=p.category, id=p.id, text=p.text,
                      t_detected=t, reason="not in the final transcript", **extra)
        before = self.state.level
        changed = self.state.retract(t, p.category, p.signal_at)
        # the timeline (summary, report, hub) keeps what the confirmed words did: the
        # change the withdrawn trigger made goes, and where the call stands now follows
        self.timeline = [x for x in self.timeline
                         if not (x.get("reason") == p.category and x["t"] == round(p.signal_at, 2))]
        if changed:
            self._state_changed(t, changed, "withdrawn", previous=before)

    # --- cues -> state and prompts ------------------------------------------------
    def _cue(self, cue: _Cue) -> str:
        """Act on a signal; returns the prompt instance it caused ('' if none)."""
        changed = self.state.signal(cue.t, cue.name)
        if changed:
            self._state_changed(cue.t, changed, cue.name)
        prompt_cue = self._prompt_cue(cue)
        shown = self._offer(cue.t, prompt_cue, cue) if prompt_cue else ""
        self._tick(cue.t)
        return shown or ""

    def _prompt_cue(self, cue: _Cue) -> str:
        """Which playbook cue (if any) this signal should prompt for."""
        name = cue.name
        if name in ("abuse", "legal_threat", "manager_request", "churn_threat",
                    "overlap", "monologue", "operator_raised_voice") or name in OPERATOR_HARMFUL:
            return name
        if name == "repeat_contact":
            # the answer is to acknowledge their effort: needless if the operator just did
            return "" if self._operator_used("empathy", cue.t - 60) else name
        if name == "silence" and self.state.level != "calm":
            return "silence"
        if name == "customer_raised_voice":
            # only a sustained raised voice: seconds raised within the last minute
            if self._raised_seconds(cue.t) >= self.p.raised_prompt_s:
                changed = self.state.signal(cue.t, "sustained_raised_voice")
                if changed:
                    self._state_changed(cue.t, changed, "sustained_raised_voice")
                return "no_empathy" if not self._operator_used("empathy", cue.t - 60) else name
        return ""

    def _raised_seconds(self, t: float) -> float:
        spans = list(self._raised)
        if self._raised_open is not None:
            spans.append((self._raised_open, t))
        return sum(max(0.0, min(end, t) - max(start, t - 60.0)) for start, end in spans)

    def _operator_used(self, category: str, since: float) -> bool:
        return any(x["category"] == category and x["t"] >= since for x in self.triggers)

    def _tick(self, t: float) -> None:
        changed = self.state.tick(t)
        if changed:
            self._state_changed(t, changed, "decay")
        level = self.state.level
        if level in HEATED:
            if self._escalated_since is None:
                self._escalated_since = t
            hot_for = t - self._escalated_since
            if hot_for >= self.p.breathe_after_s and (
                    self._breathed_at is None or t - self._breathed_at >= 120.0):
                shown = self._offer(t, "customer_raised_voice", _Cue("escalated", None, t), kind="breathe")
                if shown is None or shown:      # shown, or nothing left to offer: next try later
                    self._breathed_at = t
        else:
            self._escalated_since = None

    def _state_changed(self, t: float, level: str, reason: str, previous: str | None = None) -> None:
        """A new level: on the bus (``previous``: the level the screen showed) and in the
        timeline (unless a withdrawal left the timeline at that level already)."""
        previous = previous or self.timeline[-1]["level"]
        if level != self.timeline[-1]["level"]:
            self.timeline.append({"t": round(t, 2), "level": level, "reason": reason})
        self.bus.emit("state", t, level=level, previous=previous, reason=reason,
                      score=round(self.state.score, 2))

    def _choose(self, cue_name: str, kind: str | None) -> tuple[Prompt | None, dict[str, Any]]:
        """The playbook prompt for a cue: of the wanted kind, the least shown first; once
        each has been shown as often as a call allows, the next rung.  Also what its
        ``why`` should add: that it is shown again, or which advice it follows."""
        playbook = self.playbook(self.language)
        everything = playbook.prompts_for(cue_name)
        want = kind or ANSWER_KIND.get(cue_name)
        options = [p for p in everything if p.kind == want] or (
            [] if kind else [p for p in everything if p.kind != "breathe"])
        if not options:
            return None, {}
        shown, cap = self.policy.times_shown, self.p.policy.max_per_call
        left = [p for p in options if shown(p.id) < cap]
        if left:
            pick = min(left, key=lambda p: shown(p.id))
            return pick, self._repeat_why(pick)
        if cue_name not in NO_LADDER:
            for rung in playbook.prompts_for(RUNG_CUE):
                if shown(rung.id) < cap:
                    why = {"next_rung": {"after": options[0].id, "title": options[0].title,
                                         "times": cap}}
                    return rung, {**why, **self._repeat_why(rung)}
        self.policy.suppressed["spent"] = self.policy.suppressed.get("spent", 0) + 1
        return None, {}

    def _repeat_why(self, prompt: Prompt) -> dict[str, Any]:
        times = self.policy.times_shown(prompt.id)
        last = self.policy.last_shown(prompt.id)
        if not times or last is None:
            return {}
        return {"repeat": {"times": times + 1, "last_t": round(last, 2)}}

    def _offer(self, t: float, cue_name: str, cue: _Cue, kind: str | None = None) -> str | None:
        """Offer the cue's prompt to the policy: the instance shown, '' if the policy
        held it back, None if the cue has no prompt (left)."""
        prompt, why = self._choose(cue_name, kind)
        if prompt is None:
            return None
        instance = self._instance_id(prompt, t)
        ok, _ = self.policy.offer(t, prompt.id, prompt.kind, self._ttl(prompt), instance=instance)
        if not ok:
            return ""
        self._emit_prompt(t, prompt, cue, why=why)
        return instance

    def _ttl(self, prompt: Prompt) -> float:
        """On screen this long: a breathe prompt for its whole pacer."""
        if prompt.kind == "breathe":
            return float(PACER["cycles"] * (PACER["inhale_s"] + PACER["exhale_s"]))
        return self.p.policy.ttl_s

    @staticmethod
    def _instance_id(prompt: Prompt, t: float) -> str:
        return f"{prompt.id}@{t:.2f}"

    def _emit_prompt(self, t: float, prompt: Prompt, cue: _Cue, ttl: float | None = None,
                     why: dict[str, Any] | None = None) -> None:
        pid = self._instance_id(prompt, t)
        self._kind_of[pid] = prompt.kind
        extra_why = why or {}
        why = {"cue": cue.name, "t": round(cue.t, 2)}
        if cue.speaker:
            why["speaker"] = cue.speaker
        if cue.quote:
            why["quote"] = cue.quote
        if cue.db is not None:
            why["db_over_baseline"] = round(cue.db, 1)
        if cue.effort:
            why["by"] = "effort"
        if cue.name == "escalated":
            why["state"] = self.state.level
            why["since"] = round(self._escalated_since or t, 2)
        if cue.name == "after_escalation" and self._heated_since() is not None:
            why["since"] = self._heated_since()
        why.update(extra_why)
        extra: dict[str, Any] = {}
        if prompt.kind == "breathe":
            extra = {"pacer": dict(PACER), "private": True}
        ttl_s = ttl if ttl is not None else self._ttl(prompt)
        self.bus.emit("prompt", t, "operator", id=pid, prompt=prompt.id, kind=prompt.kind,
                      priority=PROMPT_PRIORITY.get(prompt.kind, 0), title=prompt.title,
                      body=prompt.body, why=why, ttl=ttl_s, language=self.language, **extra)
        record = {"t": round(t, 2), "id": pid, "prompt": prompt.id, "kind": prompt.kind,
                  "title": prompt.title}
        (self.nudges if self.ended else self.prompts).append(record)

    # --- as a pipeline stage ----------------------------------------------------------
    def _heated_since(self) -> float | None:
        """When the call first got escalated (or abusive), by the timeline."""
        return next((x["t"] for x in self.timeline if x["level"] in HEATED), None)

    def process(self, pcm: Any, frontend: Any) -> None:
        """The coach works on events only."""

    def finish(self, frontend: Any) -> None:
        """End of call (before call_end): the recovery nudge if the call got hot."""
        if self.ended:
            return
        self.ended = True
        t_end = frontend.t
        if self.state.peak in HEATED:
            for prompt in self.playbook(self.language).prompts_for("after_escalation"):
                self._emit_prompt(t_end, prompt, _Cue("after_escalation", None, t_end), ttl=60.0)

    def stats(self) -> dict[str, Any]:
        return {"coach": self.summary()}

    def steps(self) -> dict[str, bool]:
        op = [x for x in self.triggers if x["speaker"] == "operator"]
        ids = {x["id"] for x in op}
        cats = {x["category"] for x in op}
        return {
            "listen": self._operator_overlaps == 0,
            "empathy": any(x["category"] == "empathy" and not x["id"].endswith(".apology") for x in op),
            "apology": "empathy.apology" in ids,
            "plan": "plan" in cats,
            "confirm": bool({"paraphrase.recap", "plan.you_will_hear"} & ids) or "paraphrase" in cats,
        }

    def summary(self) -> dict[str, Any]:
        harmful: dict[str, int] = {}
        for x in self.triggers:
            if x["speaker"] == "operator" and x["category"] in OPERATOR_HARMFUL:
                harmful[x["category"]] = harmful.get(x["category"], 0) + 1
        acks = self.policy.acks
        out: dict[str, Any] = {
            "escalation_timeline": self.timeline,
            "peak_state": self.state.peak,
            "final_state": self.state.level,
            "steps": self.steps(),
            "harmful_phrases": harmful,
            "triggers": len(self.triggers),
            "prompts": {
                "shown": len(self.prompts),
                "log": [{k: p[k] for k in ("t", "kind", "title")} for p in self.prompts],
                "after_call": [p["prompt"] for p in self.nudges],
                "by_kind": dict(sorted(self.policy.shown.items())),
                "used": sum(c.get("used", 0) for c in acks.values()),
                "dismissed": sum(c.get("dismissed", 0) for c in acks.values()),
                "suppressed": dict(sorted(self.policy.suppressed.items())),
                "override_rate": self.policy.override_rate(),
            },
        }
        if self.withdrawn_triggers:       # only when it happened: older summaries stay as they were
            out["triggers_withdrawn"] = self.withdrawn_triggers
            out["prompts"]["withdrawn"] = sum(self.policy.withdrawn.values())
        if self.state.peak in HEATED:
            out["incident"] = self.incident()
        return out

    def incident(self) -> dict[str, Any]:
        heat = [x for x in self.triggers if x["category"] in CUSTOMER_CATEGORIES]
        helpful = [x for x in self.triggers if x["speaker"] == "operator"
                   and x["category"] in OPERATOR_HELPFUL]
        return {
            "peak_state": self.state.peak,
            "what_happened": [f"{x['t']:.1f}s {x['speaker']} {x['category']}: \"{x['text']}\"" for x in heat]
                             + [f"{s:.1f}-{e:.1f}s customer raised voice" for s, e in self._raised],
            "what_was_done": [f"{x['t']:.1f}s {x['category']}: \"{x['text']}\"" for x in helpful]
                             + [f"{p['t']:.1f}s prompt {p['prompt']}" for p in self.prompts],
            "outcome": f"call ended {self.state.level}",
        }
