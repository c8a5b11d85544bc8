"""Every term the parts of calmline share, defined once.

Python code imports these names; the operator screen and the supervisor
dashboard get the same lists from their server (:func:`for_pages`) instead of
keeping copies in JavaScript.  Changing a term here changes it everywhere.

Speakers come from :mod:`audio.channels` (the signal side names the parties);
everything else is about meaning and people, so it lives here.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Mapping

from audio.channels import SPEAKERS as _AUDIO_SPEAKERS

# --- people -------------------------------------------------------------------------
#: The two parties of a stereo call.
PARTIES: tuple[str, ...] = ("operator", "customer")
#: Who an event can be about: a party, or ``call`` when a mono recording cannot tell.
SPEAKERS: tuple[str, ...] = tuple(_AUDIO_SPEAKERS)
Speaker = Literal["operator", "customer", "call"]

# --- languages ----------------------------------------------------------------------
#: First-class languages: a bundled playbook each.
LANGUAGES: tuple[str, ...] = ("en", "ru", "bg", "ro")
#: What ``--language`` accepts: a language, or detection per speaker.
LANGUAGE_CHOICES: tuple[str, ...] = ("auto",) + LANGUAGES

# --- escalation ---------------------------------------------------------------------
#: The call's escalation state, in rising order.
LEVELS: tuple[str, ...] = ("calm", "tense", "escalated", "abusive")
Level = Literal["calm", "tense", "escalated", "abusive"]
#: States that count as a heated call (after-call recovery, flag clips, ranking).
HEATED: tuple[str, ...] = ("escalated", "abusive")

# --- phrase triggers ------------------------------------------------------------------
#: What the customer says that raises the heat.
CUSTOMER_CATEGORIES: tuple[str, ...] = (
    "manager_request", "legal_threat", "churn_threat", "abuse", "repeat_contact",
)
#: The customer categories from the most serious down: what a supervisor sees first
#: (the dashboard's "last trigger" is the call's most serious one, the latest of those).
CUSTOMER_SEVERITY: tuple[str, ...] = (
    "abuse", "legal_threat", "churn_threat", "manager_request", "repeat_contact",
)
#: What the operator says that tends to make it worse.
OPERATOR_HARMFUL: tuple[str, ...] = ("calm_down", "deflect", "dont_know", "blame")
#: What the operator says that helps (the "five steps" credit these).
OPERATOR_HELPFUL: tuple[str, ...] = ("empathy", "paraphrase", "plan")
#: category -> the party whose speech it applies to.
CATEGORIES: dict[str, str] = {
    **{c: "customer" for c in CUSTOMER_CATEGORIES},
    **{c: "operator" for c in OPERATOR_HARMFUL + OPERATOR_HELPFUL},
}
#: Triggers and states that keep an audio clip for the supervisor.
FLAG_CATEGORIES: tuple[str, ...] = ("abuse", "legal_threat")

# --- prompts ------------------------------------------------------------------------
#: Prompt kinds and their priority: what is happening right now (abuse, the
#: operator's own heat, talking over the customer) outranks advice on what to say.
PROMPT_PRIORITY: dict[str, int] = {
    "boundary": 90, "breathe": 80, "listen": 75, "plan": 70, "de_escalate": 60,
    "technique": 50, "empathy": 40,
}
PROMPT_KINDS: tuple[str, ...] = (
    "breathe", "de_escalate", "boundary", "plan", "listen", "empathy", "technique",
)
#: Prompt kinds that are about the operator themself: never leave their PC
#: unless the deployment shares operator cues.
PRIVATE_PROMPT_KINDS: tuple[str, ...] = ("breathe",)
#: What an operator can do with a prompt on screen.
ACK_ACTIONS: tuple[str, ...] = ("used", "dismissed")
AckAction = Literal["used", "dismissed"]

#: Non-word cues a prompt may answer (``when = [...]`` in a playbook), besides categories.
ACOUSTIC_CUES: tuple[str, ...] = (
    "customer_raised_voice", "operator_raised_voice", "overlap", "silence", "monologue",
    "no_empathy", "no_paraphrase", "no_plan", "call_end", "after_escalation",
    "next_rung",
)
#: The cue of the prompts a call climbs to, in file order, once the usual advice
#: for a cue has been shown as often as a call allows (a supervisor's help, a call-back).
RUNG_CUE = "next_rung"
CUES: tuple[str, ...] = tuple(CATEGORIES) + ACOUSTIC_CUES

# --- privacy ------------------------------------------------------------------------
#: Event types that, about the operator, measure the operator themself.
OPERATOR_SIGNAL_EVENTS: tuple[str, ...] = (
    "level", "raised_voice", "raised_voice_end", "speech_start", "speech_end",
)


def for_pages() -> dict[str, Any]:
    """The lists the web pages need, as JSON-ready data (served, not copied)."""
    return {
        "speakers": list(SPEAKERS),
        "levels": list(LEVELS),
        "heated": list(HEATED),
        "prompt_kinds": list(PROMPT_KINDS),
        "prompt_priority": dict(PROMPT_PRIORITY),
        "ack_actions": list(ACK_ACTIONS),
        "categories": dict(CATEGORIES),
        "languages": list(LANGUAGES),
    }


#: Where a served page gets :func:`page_script` (an HTML comment in the page file).
PAGE_MARK = "<!-- calmline:vocabulary -->"


def page_script(extra: Mapping[str, Any] | None = None) -> str:
    """:func:`for_pages` (plus a page's own ``extra`` settings) as the page's
    ``<script id="calmline-vocabulary" type="application/json">`` element: data,
    never run (a Content-Security-Policy without inline scripts allows it), with
    ``<``, ``>`` and ``&`` escaped so no term can end the element."""
    text = json.dumps(for_pages() | dict(extra or {}), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="calmline-vocabulary" type="application/json">{text}</script>'
