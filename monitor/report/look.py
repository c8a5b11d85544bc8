"""How the report shows things, shared by the timeline and the page.

Colours of the escalation states, speakers and trigger groups; which group a
trigger category belongs to (from :mod:`monitor.vocabulary`); times as m:ss,
seconds, percentages and safe CSS class names.  Numbers from the events are
read with :func:`num`, which turns anything that is not a finite number into
``None``, so an odd field leaves a part of the page out instead of breaking it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from monitor.vocabulary import CUSTOMER_CATEGORIES, OPERATOR_HARMFUL, OPERATOR_HELPFUL

STATE_STYLE: dict[str, tuple[str, str]] = {      # fill, text colour
    "calm": ("#cdebd3", "#0b3d1a"),
    "tense": ("#ffe49a", "#3d2e00"),
    "escalated": ("#f5ab98", "#4d1000"),
    "abusive": ("#7a0e0e", "#ffffff"),
}
UNKNOWN_STATE = ("#dddddd", "#111111")
SPEAKER_COLOUR = {"operator": "#1f4e99", "customer": "#a34700", "call": "#222222"}
OTHER_COLOURS = ("#6a1b9a", "#00695c", "#5d4037", "#37474f")
GROUP_COLOUR = {"harmful": "#b00020", "heat": "#b34700", "helpful": "#1b6e35", "other": "#4a4a4a"}
#: trigger groups, most important first (the legend's order is its own)
GROUP_RANK = {"harmful": 0, "heat": 1, "helpful": 2, "other": 3}


def num(value: Any) -> float | None:
    """A finite number as a float, else None (bools are not numbers here)."""
    if type(value) is float:          # the common case, fast (NaN fails both comparisons)
        return value if -1e308 < value < 1e308 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def text(value: Any) -> str:
    """What the page prints for a value: nothing for None."""
    return "" if value is None else str(value)


def fmt_time(seconds: Any) -> str:
    """m:ss (h:mm:ss from an hour on)."""
    s = num(seconds) or 0.0
    total = int(round(max(0.0, s)))
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def secs(x: Any) -> str:
    v = num(x)
    return "-" if v is None else f"{v:.1f} s"


def pct(x: Any) -> str:
    v = num(x)
    return "-" if v is None else f"{v * 100:.0f}%"


def css_name(name: Any) -> str:
    """``name`` as a safe part of a CSS class (ASCII letters, digits, - and _)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in str(name))


def group(category: str) -> str:
    """harmful (operator), heat (customer), helpful (operator) or other."""
    if category in OPERATOR_HARMFUL:
        return "harmful"
    if category in CUSTOMER_CATEGORIES:
        return "heat"
    if category in OPERATOR_HELPFUL:
        return "helpful"
    return "other"


def state_colours(level: str | None) -> tuple[str, str]:
    return STATE_STYLE.get(level or "", UNKNOWN_STATE)


def speaker_colour(speaker: str, index: int) -> str:
    return SPEAKER_COLOUR.get(speaker, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def dict_words(d: Any) -> str:
    """``{"a": 1, "b": 2}`` as ``a 1, b 2``; ``none`` when empty or not a mapping."""
    if not isinstance(d, Mapping) or not d:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in d.items())
