"""What of a call may leave the operator's PC for the hub.

Unless ``share_operator_cues`` is set, nothing that reveals an operator-side cue
(the operator's own loudness, their raised voice, the hold-and-breathe prompts
and what the operator did with them) is published.  The filter is an allowlist
of what the hub may see, built fresh for every event (it never changes the
event, which other sinks share):

- the operator's level readings, speech spans and raised-voice spans: not sent;
- private prompts (hold-and-breathe, or any prompt given for the operator's own
  voice) and every acknowledgement of one: not sent; an acknowledgement of a
  prompt the filter has not let through is not sent either;
- escalation ``state``: the hub follows a *public* level, moved only by signals
  that are not operator cues.  A state change caused by the operator's raised
  voice is not sent, and a later change is sent only if it moves the public
  level, with ``previous`` set to the public level and without the ``score``
  (the score adds up the operator's cues too);
- the summary is rebuilt from allowed parts: the operator's raised-voice figures
  are left out; the escalation timeline, peak and final state are the public
  ones; the prompt log, counts, acknowledgements and override rates leave out
  the private prompts; the prompts the policy held back are left out (they count
  held-back breathe prompts); the incident record is sent only if the public
  level reached ``escalated``, without private prompts;
- flag clips: a clip flagged only for a state the public level never reached
  is not sent;
- what is sent is numbered afresh (``seq`` 0, 1, 2, ... with no gaps), so the
  hub cannot tell where, or how much, was withheld.

A limit: the public level is not recomputed from scratch; a customer's cue
that moves it is sent with the level the coach reached, which can include the
operator's recent cues (the hub never learns which).
"""

from __future__ import annotations

from typing import Any

from monitor.events import Event
from monitor.vocabulary import LEVELS

#: the operator's own acoustic events: never published unless shared
OPERATOR_CUES = ("level", "raised_voice", "raised_voice_end", "speech_start", "speech_end")
#: escalation signals that come from the operator's own voice
PRIVATE_SIGNALS = ("operator_raised_voice",)
#: kept for older callers: state reasons that reveal an operator cue
PRIVATE_REASONS = PRIVATE_SIGNALS
PRIVATE_KINDS = ("breathe",)


def is_private_prompt(event: Event) -> bool:
    """A hold-and-breathe prompt, one marked private, or one given for the operator's own voice."""
    why = event.get("why") or {}
    return bool(event.get("private") or event.get("kind") in PRIVATE_KINDS
                or why.get("cue") in PRIVATE_SIGNALS
                or (why.get("speaker") == "operator" and "db_over_baseline" in why))


def is_private(event: Event) -> bool:
    """Operator-side cues and private prompts stay on the operator's screen
    (whatever the filter's memory: acks and state changes need :class:`PrivacyFilter`)."""
    if event.type == "prompt":
        return is_private_prompt(event)
    return event.speaker == "operator" and event.type in OPERATOR_CUES


def public_timeline(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The escalation timeline without the changes an operator cue made."""
    starts = bool(timeline) and not timeline[0].get("reason")     # the coach's {t: 0, calm}
    out = [dict(timeline[0])] if starts else [{"t": 0.0, "level": "calm"}]
    for entry in timeline[1:] if starts else timeline:
        if entry.get("reason") in PRIVATE_SIGNALS or entry.get("level") == out[-1]["level"]:
            continue
        out.append(dict(entry))
    return out


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


class PrivacyFilter:
    """Per call: what the hub may see of each event (``None``: nothing)."""

    def __init__(self, share_operator_cues: bool = False) -> None:
        self.share = share_operator_cues
        self.level = "calm"                          # the public escalation level
        self.levels_reached: set[str] = {"calm"}
        self._public_prompts: dict[str, str] = {}    # prompt instance id -> kind
        self._private_prompts: dict[str, dict[str, Any]] = {}   # id -> the prompt's fields
        self._acked: set[str] = set()
        self._private_acks: dict[str, dict[str, int]] = {}      # kind -> {"used": n, "dismissed": n}
        self._public_acks: dict[str, dict[str, int]] = {}
        self.withheld = 0
        self.published = 0                           # the hub's own gap-free sequence

    def __call__(self, event: Event) -> dict[str, Any] | None:
        if self.share:
            return event.to_dict()
        out = self._filter(event)
        if out is None:
            self.withheld += 1
            return None
        out["seq"] = self.published          # gap-free: a gap would show where something was withheld
        self.published += 1
        return out

    def clip_reason(self, reason: str) -> str:
        """The reasons of a flag clip the hub may see ('' = do not send the clip)."""
        if self.share:
            return reason
        keep = [r for r in reason.split(",") if r and (r not in LEVELS or r in self.levels_reached)]
        return ",".join(keep)

    # --- per event type ------------------------------------------------------------------
    def _filter(self, event: Event) -> dict[str, Any] | None:
        kind = event.type
        if event.speaker == "operator" and kind in OPERATOR_CUES:
            return None
        if kind == "prompt":
            return self._prompt(event)
        if kind == "prompt_ack":
            return self._ack(event)
        if kind == "state":
            return self._state(event)
        if kind == "summary":
            return self._summary(event.to_dict())
        return event.to_dict()

    def _prompt(self, event: Event) -> dict[str, Any] | None:
        pid = str(event.get("id"))
        if is_private_prompt(event):
            self._private_prompts[pid] = {"t": round(event.t, 2), "kind": event.get("kind"),
                                          "title": event.get("title"), "prompt": event.get("prompt")}
            return None
        self._public_prompts[pid] = str(event.get("kind"))
        return event.to_dict()

    def _ack(self, event: Event) -> dict[str, Any] | None:
        pid, action = str(event.get("prompt_id")), event.get("action")
        private = pid in self._private_prompts
        if pid not in self._acked and action in ("used", "dismissed") and (
                private or pid in self._public_prompts):
            self._acked.add(pid)          # like the prompt policy: the first ack counts
            kind = self._private_prompts[pid]["kind"] if private else self._public_prompts[pid]
            tally = (self._private_acks if private else self._public_acks).setdefault(
                kind, {"used": 0, "dismissed": 0})
            tally[action] += 1
        return event.to_dict() if pid in self._public_prompts else None

    def _state(self, event: Event) -> dict[str, Any] | None:
        level = event.get("level")
        if event.get("reason") in PRIVATE_SIGNALS or level == self.level:
            return None
        d = event.to_dict()
        d["previous"] = self.level
        d.pop("score", None)
        self.level = level
        self.levels_reached.add(level)
        return d

    def _summary(self, d: dict[str, Any]) -> dict[str, Any]:
        operator = (d.get("speakers") or {}).get("operator")
        if isinstance(operator, dict):
            operator.pop("raised_voice_count", None)
            operator.pop("raised_voice_s", None)
        coach = d.get("coach")
        if isinstance(coach, dict):
            d["coach"] = self._coach(coach)
        return d

    def _coach(self, coach: dict[str, Any]) -> dict[str, Any]:
        timeline = public_timeline(coach.get("escalation_timeline") or [])
        peak = max((e["level"] for e in timeline), key=_rank)
        final = timeline[-1]["level"]
        out = {k: v for k, v in coach.items() if k not in ("incident", "prompts")}
        out.update(escalation_timeline=timeline, peak_state=peak, final_state=final)
        prompts = coach.get("prompts")
        if isinstance(prompts, dict):
            out["prompts"] = self._prompts(prompts)
        incident = coach.get("incident")
        if isinstance(incident, dict) and _rank(peak) >= 2:
            # the coach writes each prompt shown as "<t>s prompt <playbook id>"
            hidden = {f"{p['t']:.1f}s prompt {p['prompt']}" for p in self._private_prompts.values()}
            incident = dict(incident, peak_state=peak, outcome=f"call ended {final}")
            incident["what_was_done"] = [
                x for x in incident.get("what_was_done", [])
                if x not in hidden and not any(f"prompt {k}." in x for k in PRIVATE_KINDS)]
            out["incident"] = incident
        return out

    def _private_playbook_ids(self) -> set[str]:
        ids = {str(p["prompt"]) for p in self._private_prompts.values() if p.get("prompt")}
        return ids

    def _prompts(self, prompts: dict[str, Any]) -> dict[str, Any]:
        private_keys = {(p["t"], p["kind"], p["title"]) for p in self._private_prompts.values()}
        private_ids = self._private_playbook_ids()
        log = [p for p in prompts.get("log", [])
               if p.get("kind") not in PRIVATE_KINDS
               and (round(float(p.get("t", 0.0)), 2), p.get("kind"), p.get("title")) not in private_keys]
        after = [p for p in prompts.get("after_call", [])
                 if p not in private_ids and not str(p).startswith(tuple(k + "." for k in PRIVATE_KINDS))]
        by_kind = {k: v for k, v in prompts.get("by_kind", {}).items() if k not in PRIVATE_KINDS}
        for p in self._private_prompts.values():       # private prompts of a public kind
            if p["kind"] in by_kind and p.get("prompt") not in prompts.get("after_call", []):
                by_kind[p["kind"]] = max(0, by_kind[p["kind"]] - 1)
        out = {"shown": len(log), "log": log, "after_call": after,
               "by_kind": {k: v for k, v in by_kind.items() if v}}
        for action in ("used", "dismissed"):
            hidden = sum(c.get(action, 0) for c in self._private_acks.values())
            out[action] = max(0, int(prompts.get(action, 0)) - hidden)
        rates = {k: v for k, v in prompts.get("override_rate", {}).items()
                 if k not in PRIVATE_KINDS and k not in self._private_acks}
        for kind in self._private_acks:
            c = self._public_acks.get(kind)
            if kind not in PRIVATE_KINDS and c and c["used"] + c["dismissed"]:
                rates[kind] = round(c["dismissed"] / (c["used"] + c["dismissed"]), 3)
        out["override_rate"] = dict(sorted(rates.items()))
        return out
