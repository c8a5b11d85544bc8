"""The call as one self-contained HTML page: timeline, transcript, summary, coaching.

:func:`render_report` takes the call's events as decoded JSON objects (what
``--events`` writes, or ``Event.to_dict()``) and returns one HTML document with
inline CSS and an inline SVG timeline.  Nothing is fetched: no scripts, fonts,
images or style sheets from anywhere, so the file can be mailed, archived or
served by the hub as it is, and opened offline.

Every piece of text from the events (transcripts above all) is escaped.  The
loudness of a long call is downsampled before it is plotted (about two points a
second, at most :data:`MAX_POINTS` per speaker), so a two-hour call renders in
well under a second.

The page is built from the events alone: a call without a ``summary`` event (cut
short) still gets a timeline and a transcript, and a missing or odd field leaves
a part out rather than failing.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from monitor.errors import CalmlineError
from monitor.vocabulary import CUSTOMER_CATEGORIES as CUSTOMER_HEAT, LEVELS, OPERATOR_HARMFUL as HARMFUL

#: most loudness points plotted per speaker (the plot is ~880 px wide)
MAX_POINTS = 3000
#: loudness bin for shorter calls, seconds (two points a second)
BIN_S = 0.5

HELPFUL = ("empathy", "paraphrase", "plan")
STEPS = (
    ("listen", "Listen: let the customer finish (no talking over them)"),
    ("empathy", "Empathy: acknowledge how they feel"),
    ("apology", "Apology"),
    ("plan", "Plan: say what you will do"),
    ("confirm", "Confirm: recap, or say when they will hear back"),
)
STATE_STYLE = {            # fill, text colour
    "calm": ("#cdebd3", "#0b3d1a"),
    "tense": ("#ffe49a", "#3d2e00"),
    "escalated": ("#f5ab98", "#4d1000"),
    "abusive": ("#7a0e0e", "#ffffff"),
}
SPEAKER_COLOUR = {"operator": "#1f4e99", "customer": "#a34700", "call": "#222222"}
OTHER_COLOURS = ("#6a1b9a", "#00695c", "#5d4037", "#37474f")
GROUP_COLOUR = {"harmful": "#b00020", "heat": "#b34700", "helpful": "#1b6e35", "other": "#4a4a4a"}

# SVG geometry
W = 1000
LEFT = 112
RIGHT = 14
PW = W - LEFT - RIGHT
STATE_H = 30
MARK_H = 46
TRIG_H = 58
LANE_H = 120
CUES_H = 28
AXIS_H = 28
GAP = 8
CHAR_W = 6.4               # rough width of a character at 11 px


# --------------------------------------------------------------------------- helpers

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> float | None:
    if type(value) is float:          # the common case, fast (NaN fails both comparisons)
        return value if -1e308 < value < 1e308 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def fmt_time(seconds: Any) -> str:
    """m:ss (h:mm:ss from an hour on)."""
    s = _num(seconds) or 0.0
    total = int(round(max(0.0, s)))
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _css_name(name: Any) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in str(name))


def _group(category: str) -> str:
    if category in HARMFUL:
        return "harmful"
    if category in CUSTOMER_HEAT or category == "abuse":
        return "heat"
    if category in HELPFUL:
        return "helpful"
    return "other"


def _pct(x: Any) -> str:
    v = _num(x)
    return "-" if v is None else f"{v * 100:.0f}%"


def _secs(x: Any) -> str:
    v = _num(x)
    return "-" if v is None else f"{v:.1f} s"


# --------------------------------------------------------------------------- the call

class _Call:
    """What the page shows, gathered from the events in one pass."""

    SPANS = ("raised_voice", "overlap", "silence", "monologue")

    def __init__(self, events: Iterable[Mapping[str, Any]]) -> None:
        self.call_id = ""
        self.source = ""
        self.speakers: list[str] = []
        self.duration: float | None = None
        self.error: str | None = None
        self.summary: dict[str, Any] | None = None
        self.levels: dict[str, list[tuple[float, float | None, float | None]]] = {}
        self.spans: dict[str, list[dict[str, Any]]] = {k: [] for k in self.SPANS}
        self.utterances: list[dict[str, Any]] = []
        self.triggers: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.prompts: list[dict[str, Any]] = []
        self.acks: dict[str, str] = {}
        self.last_t = 0.0
        seen_speakers: list[str] = []
        open_spans: dict[tuple[str, Any, float], dict[str, Any]] = {}

        for index, e in enumerate(events):
            if not isinstance(e, dict) and not isinstance(e, Mapping):
                continue
            kind = e.get("type")
            t = _num(e.get("t"))
            if t is None:
                t = 0.0
            speaker = e.get("speaker")
            if kind == "level":       # most of a call's events: the short way
                if speaker is None:
                    continue
                series = self.levels.get(speaker)
                if series is None:
                    speaker = str(speaker)
                    series = self.levels[speaker] = []
                    seen_speakers.append(speaker)
                series.append((t, _num(e.get("short_term_dbfs")), _num(e.get("baseline_dbfs"))))
                if t > self.last_t:
                    self.last_t = t
                continue
            if not self.call_id and e.get("call_id"):
                self.call_id = str(e["call_id"])
            end = _num(e.get("t_end"))
            self.last_t = max(self.last_t, t, end or 0.0)
            if kind == "call_start":
                self.source = str(e.get("source") or "")
                if isinstance(e.get("speakers"), list):
                    self.speakers = [str(s) for s in e["speakers"]]
            elif kind in self.SPANS:
                key = (kind, speaker, round(t, 3))
                open_spans[key] = {"t": t, "t_end": None, "speaker": speaker,
                                   "other": e.get("other"), "db": _num(e.get("db_over_baseline"))}
            elif kind is not None and kind.endswith("_end") and kind[:-4] in self.SPANS:
                base = kind[:-4]
                span = open_spans.pop((base, speaker, round(t, 3)), None) or {
                    "t": t, "speaker": speaker, "other": e.get("other"), "db": None}
                span["t_end"] = end if end is not None else t
                span["db"] = _num(e.get("db_over_baseline")) or span.get("db")
                self.spans[base].append(span)
            elif kind == "utterance":
                self.utterances.append({"t": t, "t_end": end if end is not None else t,
                                        "speaker": speaker, "text": str(e.get("text") or ""),
                                        "seq": e.get("seq", index), "triggers": [], "notes": []})
            elif kind == "trigger":
                span = e.get("span")
                self.triggers.append({
                    "t": t, "speaker": speaker, "category": str(e.get("category") or "?"),
                    "id": str(e.get("id") or ""), "text": str(e.get("text") or ""),
                    "span": span if isinstance(span, (list, tuple)) else None,
                    "partial": bool(e.get("partial")), "seq": e.get("seq", index)})
            elif kind == "state":
                self.states.append({"t": t, "level": str(e.get("level") or ""),
                                    "previous": e.get("previous"), "reason": e.get("reason"),
                                    "seq": e.get("seq", index)})
            elif kind == "prompt":
                why = e.get("why") if isinstance(e.get("why"), Mapping) else {}
                self.prompts.append({"t": t, "id": str(e.get("id") or ""),
                                     "prompt": str(e.get("prompt") or ""),
                                     "kind": str(e.get("kind") or "?"),
                                     "title": str(e.get("title") or ""),
                                     "body": str(e.get("body") or ""), "why": why,
                                     "seq": e.get("seq", index)})
            elif kind == "prompt_ack":
                if e.get("action") in ("used", "dismissed"):
                    self.acks[str(e.get("prompt_id"))] = str(e["action"])
            elif kind == "call_end":
                self.duration = _num(e.get("duration"))
                if e.get("error"):
                    self.error = str(e["error"])
            elif kind == "summary":
                self.summary = dict(e)

        if self.duration is None and self.summary is not None:
            self.duration = _num(self.summary.get("duration"))
        if self.duration is None:
            self.duration = self.last_t
        for (span_kind, _s, _t), span in open_spans.items():   # still open when the events stop
            span["t_end"] = self.duration
            span["open"] = True
            self.spans[span_kind].append(span)
        if not self.speakers:
            self.speakers = seen_speakers or sorted(
                {str(u["speaker"]) for u in self.utterances if u["speaker"]})
        for s in seen_speakers:
            if s not in self.speakers:
                self.speakers.append(s)
        self.utterances.sort(key=lambda u: (u["t"], _seq(u)))
        self.triggers.sort(key=lambda x: (x["t"], _seq(x)))
        self.states.sort(key=lambda x: (x["t"], _seq(x)))
        self.prompts.sort(key=lambda x: (x["t"], _seq(x)))
        self.coach: dict[str, Any] = {}
        if self.summary and isinstance(self.summary.get("coach"), Mapping):
            self.coach = dict(self.summary["coach"])

    @property
    def mono(self) -> bool:
        return self.speakers == ["call"]

    def timeline(self) -> list[tuple[float, str, str]]:
        """(start, level, reason) of each state, from the state events or the summary."""
        if self.states:
            first = self.states[0].get("previous")
            out = [(0.0, str(first) if first else "calm", "")]
            out += [(s["t"], s["level"], str(s.get("reason") or "")) for s in self.states]
            return out
        items = self.coach.get("escalation_timeline")
        if isinstance(items, list):
            return [(_num(x.get("t")) or 0.0, str(x.get("level") or ""), str(x.get("reason") or ""))
                    for x in items if isinstance(x, Mapping)]
        return []

    def peak_state(self) -> str | None:
        peak = self.coach.get("peak_state")
        if peak:
            return str(peak)
        levels = [lv for _, lv, _ in self.timeline() if lv in LEVELS]
        return max(levels, key=LEVELS.index) if levels else None

    @staticmethod
    def after_call(p: Mapping[str, Any]) -> bool:
        """A nudge for after the call (the coach emits them at its end)."""
        return isinstance(p["why"], Mapping) and p["why"].get("cue") == "after_escalation"

    def prompt_status(self, p: Mapping[str, Any]) -> str:
        if p["id"] in self.acks:
            return self.acks[p["id"]]
        return "after call" if self.after_call(p) else "no response"


def _seq(x: Mapping[str, Any]) -> float:
    v = _num(x.get("seq"))
    return v if v is not None else 0.0


# --------------------------------------------------------------------------- loudness

def downsample(series: list[tuple[float, float | None, float | None]], duration: float,
               max_points: int = MAX_POINTS) -> list[tuple[float, float | None, float | None]]:
    """Bins of :data:`BIN_S` (wider for long calls): the loudest short-term level of
    each bin (so a shout is not averaged away) and the bin's last baseline."""
    bin_s = max(BIN_S, (duration or 0.0) / max_points)
    bins: dict[int, list[Any]] = {}
    for t, level, base in series:
        b = bins.get(int(t / bin_s))
        if b is None:
            bins[int(t / bin_s)] = [level, base]
            continue
        if level is not None and (b[0] is None or level > b[0]):
            b[0] = level
        if base is not None:
            b[1] = base
    return [(min((i + 0.5) * bin_s, duration or (i + 0.5) * bin_s), v[0], v[1])
            for i, v in sorted(bins.items())]


# --------------------------------------------------------------------------- SVG

class _Svg:
    def __init__(self, duration: float) -> None:
        self.duration = max(duration, 1.0)
        self.parts: list[str] = []

    def x(self, t: float) -> float:
        return LEFT + max(0.0, min(t, self.duration)) / self.duration * PW

    def add(self, s: str) -> None:
        self.parts.append(s)

    def text(self, x: float, y: float, s: str, *, size: int = 11, anchor: str = "start",
             fill: str = "#111", weight: str = "normal", cls: str = "") -> None:
        extra = f' class="{cls}"' if cls else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'fill="{fill}" font-weight="{weight}"{extra}>{_e(s)}</text>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, title: str = "",
             extra: str = "") -> None:
        tip = f"<title>{_e(title)}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.8):.1f}" height="{h:.1f}" '
                 f'fill="{fill}" {extra}>{tip}</rect>')

    def span_label(self, x0: float, x1: float, y: float, words: list[str], **kw: Any) -> None:
        """The first of ``words`` that fits between x0 and x1, centred."""
        for w in words:
            if len(w) * CHAR_W + 4 <= x1 - x0:
                self.text((x0 + x1) / 2, y, w, anchor="middle", **kw)
                return


def _place(labels: list[tuple[float, str]], rows: int,
           order: list[int] | None = None) -> list[tuple[float, int, str] | None]:
    """Rows for marker labels (x, text), taken in ``order`` (most important first):
    (x, row, text) for each label, or None where no row has room (its marker keeps
    its tooltip)."""
    taken: list[list[tuple[float, float]]] = [[] for _ in range(rows)]
    out: list[tuple[float, int, str] | None] = [None] * len(labels)
    for i in (order if order is not None else range(len(labels))):
        x, label = labels[i]
        width = len(label) * CHAR_W
        start = max(0.0, min(x - 3, W - RIGHT - width))
        for row in range(rows):
            if all(start + width + 6 <= a or start >= b + 6 for a, b in taken[row]):
                taken[row].append((start, start + width))
                out[i] = (start, row, label)
                break
    return out


def _ticks(duration: float) -> list[float]:
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 12:
            break
    n = int(duration // step)
    return [i * step for i in range(n + 1)]


def _speaker_colour(speaker: str, index: int) -> str:
    return SPEAKER_COLOUR.get(speaker, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def render_timeline(call: _Call) -> str:
    dur = max(call.duration or 0.0, 1.0)
    svg = _Svg(dur)
    lanes = call.speakers
    y_state = GAP
    y_trig = y_state + STATE_H + GAP
    y_prompt = y_trig + TRIG_H
    y_lanes = y_prompt + MARK_H + GAP
    y_cues = y_lanes + len(lanes) * (LANE_H + GAP)
    y_axis = y_cues + CUES_H + 4
    height = y_axis + AXIS_H

    svg.add('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
            '<line x1="0" y1="0" x2="0" y2="6" stroke="#222" stroke-width="2"/></pattern></defs>')

    # time grid
    ticks = _ticks(dur)
    for t in ticks:
        x = svg.x(t)
        svg.add(f'<line x1="{x:.1f}" y1="{y_trig:.1f}" x2="{x:.1f}" y2="{y_axis:.1f}" '
                f'stroke="#e4e4e4" stroke-width="1"/>')
        label = fmt_time(t)
        if x + len(label) * CHAR_W / 2 > W:        # the last tick, at the very end
            svg.text(W - 2, y_axis + 16, label, anchor="end", fill="#333")
        else:
            svg.text(x, y_axis + 16, label, anchor="middle", fill="#333")
    svg.add(f'<line x1="{LEFT}" y1="{y_axis:.1f}" x2="{W - RIGHT}" y2="{y_axis:.1f}" stroke="#555"/>')
    svg.text(LEFT - 24, y_axis + 16, "m:ss", anchor="end", fill="#333")

    # escalation state band
    svg.text(LEFT - 8, y_state + STATE_H / 2 + 4, "state", anchor="end", weight="bold")
    timeline = call.timeline()
    if timeline:
        merged: list[list[Any]] = []
        for t, level, reason in timeline:
            if merged and level == merged[-1][1]:
                continue
            if merged and t <= merged[-1][0]:
                merged[-1][1:] = [level, reason]
                continue
            merged.append([t, level, reason])
        for i, (t, level, reason) in enumerate(merged):
            t_end = merged[i + 1][0] if i + 1 < len(merged) else dur
            x0, x1 = svg.x(t), svg.x(t_end)
            fill, ink = STATE_STYLE.get(level, ("#dddddd", "#111111"))
            why = f" (after {reason})" if reason else ""
            svg.rect(x0, y_state, x1 - x0, STATE_H, fill,
                     f"{level} {fmt_time(t)}-{fmt_time(t_end)}{why}", 'stroke="#ffffff" stroke-width="1"')
            svg.span_label(x0, x1, y_state + STATE_H / 2 + 4, [level, level[:1].upper()],
                           fill=ink, weight="bold", size=12)
    else:
        svg.rect(LEFT, y_state, PW, STATE_H, "#f0f0f0", "", 'stroke="#bbb"')
        svg.text(LEFT + PW / 2, y_state + STATE_H / 2 + 4, "no escalation state in these events",
                 anchor="middle", fill="#333")

    # triggers
    svg.text(LEFT - 8, y_trig + 14, "triggers", anchor="end", weight="bold")
    rank = {"harmful": 0, "heat": 1, "helpful": 2, "other": 3}
    order = sorted(range(len(call.triggers)),
                   key=lambda i: (rank[_group(call.triggers[i]["category"])], call.triggers[i]["t"]))
    placed = _place([(svg.x(x["t"]), x["category"]) for x in call.triggers], 3, order)
    if not call.triggers:
        svg.text(LEFT + 4, y_trig + 14, "none", fill="#555")
    for trig, spot in zip(call.triggers, placed):
        x = svg.x(trig["t"])
        colour = GROUP_COLOUR[_group(trig["category"])]
        tip = (f"{fmt_time(trig['t'])} {trig['speaker'] or ''} {trig['category']}: "
               f"\u201c{trig['text']}\u201d")
        svg.add(f'<path d="M{x - 5:.1f},{y_trig + 2:.1f} L{x + 5:.1f},{y_trig + 2:.1f} '
                f'L{x:.1f},{y_trig + 11:.1f} Z" fill="{colour}"><title>{_e(tip)}</title></path>')
        if spot is not None:
            lx, row, label = spot
            svg.text(lx, y_trig + 24 + row * 13, label, fill=colour)

    # prompts
    svg.text(LEFT - 8, y_prompt + 14, "prompts", anchor="end", weight="bold")
    if not call.prompts:
        svg.text(LEFT + 4, y_prompt + 14, "none", fill="#555")
    labels = []
    for p in call.prompts:
        labels.append((svg.x(p["t"]), f"{p['kind']}: {call.prompt_status(p)}"))
    for p, spot in zip(call.prompts, _place(labels, 2)):
        x = svg.x(p["t"])
        status = call.prompt_status(p)
        fill = {"used": "#1b6e35", "dismissed": "#ffffff"}.get(status, "#777777")
        tip = f"{fmt_time(p['t'])} prompt {p['kind']} \u2013 {p['title']} ({status})"
        svg.add(f'<rect x="{x - 4.5:.1f}" y="{y_prompt + 2:.1f}" width="9" height="9" fill="{fill}" '
                f'stroke="#111" stroke-width="1.2"><title>{_e(tip)}</title></rect>')
        if spot is not None:
            lx, row, label = spot
            svg.text(lx, y_prompt + 24 + row * 13, label)

    # loudness lanes
    values = [v for s in lanes for _t, v, _b in call.levels.get(s, []) if v is not None]
    top = 0.0 if values and max(values) > -12.0 else -10.0
    bottom = -70.0

    def y_of(db: float, y0: float) -> float:
        db = max(bottom, min(top, db))
        return y0 + 6 + (top - db) / (top - bottom) * (LANE_H - 22)

    for i, speaker in enumerate(lanes):
        y0 = y_lanes + i * (LANE_H + GAP)
        colour = _speaker_colour(speaker, i)
        svg.add(f'<g class="lane" data-speaker="{_e(speaker)}">')
        svg.rect(LEFT, y0, PW, LANE_H, "#fbfbfb", "", 'stroke="#c8c8c8"')
        name = speaker if len(speaker) <= 10 else speaker[:9] + "\u2026"
        svg.text(LEFT - 40, y0 + 16, name, anchor="end", weight="bold", fill=colour, size=12)
        svg.text(LEFT - 40, y0 + 30, "loudness", anchor="end", fill="#333", size=10)
        for db in range(int(top), int(bottom) - 1, -20):
            yy = y_of(db, y0)
            svg.add(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{W - RIGHT}" y2="{yy:.1f}" '
                    f'stroke="#e2e2e2" stroke-width="1"/>')
            svg.text(LEFT - 4, yy + 3, f"{db} dB", anchor="end", fill="#555", size=9)
        for s in call.spans["raised_voice"]:
            if s["speaker"] != speaker:
                continue
            x0, x1 = svg.x(s["t"]), svg.x(s["t_end"])
            db = f", up to +{s['db']:.0f} dB over baseline" if s.get("db") is not None else ""
            svg.rect(x0, y0 + 1, x1 - x0, LANE_H - 2, "#f7c6bd",
                     f"{speaker} raised voice {fmt_time(s['t'])}-{fmt_time(s['t_end'])}{db}",
                     'class="raised"')
            svg.span_label(x0, x1, y0 + 13, ["raised voice", "raised", "R"], fill="#5c1000",
                           weight="bold", size=10)
        for s in call.spans["overlap"]:
            if s["speaker"] != speaker:
                continue
            x0, x1 = svg.x(s["t"]), svg.x(s["t_end"])
            other = s.get("other") or "the other"
            svg.rect(x0, y0 + LANE_H - 16, x1 - x0, 15, "url(#hatch)",
                     f"{speaker} talked over {other} {fmt_time(s['t'])}-{fmt_time(s['t_end'])}",
                     'class="overlap" stroke="#111" stroke-width="1"')
            svg.span_label(x0, x1, y0 + LANE_H - 20, [f"over {other}", "over"], fill="#111",
                           weight="bold", size=10)
        points = downsample(call.levels.get(speaker, []), dur)
        line = " ".join(f"{svg.x(t):.1f},{y_of(v, y0):.1f}" for t, v, _b in points if v is not None)
        if line:
            svg.add(f'<polyline class="loudness" points="{line}" fill="none" stroke="{colour}" '
                    f'stroke-width="1.4" stroke-linejoin="round"/>')
        run: list[str] = []
        runs: list[list[str]] = []
        for t, _v, b in points:
            if b is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(f"{svg.x(t):.1f},{y_of(b, y0):.1f}")
        if run:
            runs.append(run)
        for r in runs:
            svg.add(f'<polyline class="baseline" points="{" ".join(r)}" fill="none" stroke="{colour}" '
                    f'stroke-width="1" stroke-dasharray="5 4"><title>{_e(speaker)} baseline</title></polyline>')
        if not points:
            svg.text(LEFT + PW / 2, y0 + LANE_H / 2, "no level events", anchor="middle", fill="#555")
        svg.add("</g>")

    # silences and monologues
    svg.text(LEFT - 8, y_cues + CUES_H / 2 + 4, "silence", anchor="end", weight="bold")
    for s in call.spans["silence"]:
        x0, x1 = svg.x(s["t"]), svg.x(s["t_end"])
        svg.rect(x0, y_lanes, x1 - x0, y_cues - y_lanes - GAP, "#000000", "",
                 'fill-opacity="0.06" class="silence-shade"')
        svg.rect(x0, y_cues, x1 - x0, CUES_H, "#cfcfcf",
                 f"silence {fmt_time(s['t'])}-{fmt_time(s['t_end'])} "
                 f"({(s['t_end'] or 0) - s['t']:.1f} s)", 'class="silence" stroke="#777"')
        svg.span_label(x0, x1, y_cues + CUES_H / 2 + 4, ["silence", "S"], fill="#111", size=10)
    for s in call.spans["monologue"]:
        x0, x1 = svg.x(s["t"]), svg.x(s["t_end"])
        who = s["speaker"] or "call"
        svg.rect(x0, y_cues + 3, x1 - x0, CUES_H - 6, "#c9d7f0",
                 f"{who} monologue {fmt_time(s['t'])}-{fmt_time(s['t_end'])}",
                 'class="monologue" stroke="#1f4e99"')
        svg.span_label(x0, x1, y_cues + CUES_H / 2 + 4, [f"monologue ({who})", "monologue", "M"],
                       fill="#0b2a5c", size=10)

    body = "".join(svg.parts)
    return (f'<svg class="timeline" viewBox="0 0 {W} {height:.0f}" width="{W}" height="{height:.0f}" '
            f'role="img" aria-label="Call timeline: escalation state, triggers, prompts and '
            f'loudness per speaker" font-family="Arial, Helvetica, sans-serif">'
            f"<title>Call timeline</title>{body}</svg>")


def _legend() -> str:
    states = "".join(
        f'<span class="swatch" style="background:{fill};color:{ink}">{_e(level)}</span>'
        for level, (fill, ink) in STATE_STYLE.items())
    groups = "".join(
        f'<span class="key"><span class="tri" style="color:{GROUP_COLOUR[g]}">\u25bc</span> {label}</span>'
        for g, label in (("heat", "customer heat"), ("harmful", "harmful phrase"),
                         ("helpful", "helpful move"), ("other", "other")))
    return (
        '<p class="legend">'
        f'<span class="key"><b>state:</b> {states}</span> '
        f'<span class="key"><b>triggers:</b> {groups}</span> '
        '<span class="key"><b>prompts:</b> \u25a0 used, \u25a1 dismissed, grey: no response / after call</span> '
        '<span class="key"><b>lanes:</b> solid line = short-term loudness (dBFS), dashed = the speaker\'s '
        'own baseline, red shading = raised voice, hatched bar = talking over the other speaker, '
        'grey = long silence</span></p>')


# --------------------------------------------------------------------------- transcript

def _locate(text: str, trig: Mapping[str, Any]) -> tuple[int, int] | None:
    span = trig.get("span")
    want = trig.get("text") or ""
    ok_span = None
    if (span is not None and len(span) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                    for v in span)
            and 0 <= span[0] < span[1] <= len(text)):
        ok_span = (span[0], span[1])
        if not want or text[span[0]:span[1]].lower() == want.lower():
            return ok_span
    if want:
        low = text.lower()
        if len(low) == len(text):
            i = low.find(want.lower())
            if i >= 0:
                return i, i + len(want)
    return None


def _attach_triggers(call: _Call) -> list[dict[str, Any]]:
    """Give each trigger to its utterance (same speaker and start); the rest are returned."""
    by_key: dict[tuple[Any, int], list[dict[str, Any]]] = {}
    for u in call.utterances:
        by_key.setdefault((u["speaker"], round(u["t"] * 100)), []).append(u)
    orphans = []
    for trig in call.triggers:
        key = round(trig["t"] * 100)
        candidates = [u for k in (key, key - 1, key + 1)
                      for u in by_key.get((trig["speaker"], k), [])]
        if not candidates:   # e.g. found in a partial whose final was merged: same speaker, in time
            candidates = [u for u in call.utterances if u["speaker"] == trig["speaker"]
                          and u["t"] - 0.01 <= trig["t"] <= u["t_end"] + 0.01]
        home = next((u for u in candidates if _locate(u["text"], trig)), None)
        if home is not None:
            home["triggers"].append(trig)
        elif candidates:
            candidates[0]["notes"].append(trig)
        else:
            orphans.append(trig)
    return orphans


def _highlight(text: str, triggers: list[dict[str, Any]]) -> str:
    found = []
    for trig in triggers:
        where = _locate(text, trig)
        if where:
            found.append((where[0], where[1], trig))
    found.sort(key=lambda r: (r[0], -r[1]))
    merged: list[list[Any]] = []
    for s, e, trig in found:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][2].append(trig)
        else:
            merged.append([s, e, [trig]])
    out, pos = [], 0
    for s, e, trigs in merged:
        cats = list(dict.fromkeys(t["category"] for t in trigs))
        classes = " ".join(f"trg-{_css_name(c)}" for c in cats)
        group = _group(cats[0])
        title = "; ".join(f"{t['category']} ({t['id']})" if t["id"] else t["category"] for t in trigs)
        out.append(_e(text[pos:s]))
        out.append(f'<mark class="trg {classes} g-{group}" title="{_e(title)}">{_e(text[s:e])}</mark>'
                   f'<sup class="cat g-{group}">{_e(", ".join(cats))}</sup>')
        pos = e
    out.append(_e(text[pos:]))
    return "".join(out)


def render_transcript(call: _Call) -> str:
    orphans = _attach_triggers(call)
    rows: list[tuple[float, float, str]] = []
    for u in call.utterances:
        notes = "".join(
            f'<div class="tnote">also: <span class="cat g-{_group(t["category"])}">'
            f'{_e(t["category"])}</span> \u201c{_e(t["text"])}\u201d'
            f'{" (heard in a partial)" if t.get("partial") else ""}</div>' for t in u["notes"])
        speaker = u["speaker"] or ""
        rows.append((u["t"], _seq(u),
                     f'<tr class="spk-{_css_name(speaker)}"><td class="time">{fmt_time(u["t"])}</td>'
                     f'<td class="spk">{_e(speaker)}</td>'
                     f'<td class="words">{_highlight(u["text"], u["triggers"])}{notes}</td></tr>'))
    for t in orphans:
        rows.append((t["t"], _seq(t),
                     f'<tr class="orphan"><td class="time">{fmt_time(t["t"])}</td>'
                     f'<td class="spk">{_e(t["speaker"] or "")}</td><td class="words"><i>(no utterance '
                     f'in these events)</i> trigger <span class="cat g-{_group(t["category"])}">'
                     f'{_e(t["category"])}</span>: \u201c{_e(t["text"])}\u201d</td></tr>'))
    if not rows:
        return ('<p class="muted">No transcript: there are no utterances in these events '
                '(replayed with --no-transcribe, or nothing was said).</p>')
    rows.sort(key=lambda r: (r[0], r[1]))
    return ('<table class="transcript"><thead><tr><th>time</th><th>speaker</th><th>words</th>'
            '</tr></thead><tbody>' + "".join(r[2] for r in rows) + "</tbody></table>")


# --------------------------------------------------------------------------- summary

def _kv(items: Iterable[tuple[str, Any]]) -> str:
    return "<dl class=\"kv\">" + "".join(
        f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _dict_words(d: Any) -> str:
    if not isinstance(d, Mapping) or not d:
        return "none"
    return _e(", ".join(f"{k} {v}" for k, v in d.items()))


def render_summary(call: _Call) -> str:
    s = call.summary
    if s is None:
        return '<p class="muted">No summary event: the events stop before the end of the call.</p>'
    parts = []
    speakers = s.get("speakers") if isinstance(s.get("speakers"), Mapping) else {}
    tr = s.get("transcription") if isinstance(s.get("transcription"), Mapping) else None
    head = ("<tr><th>speaker</th><th>speech</th><th>raised voice</th>"
            "<th>talked over the other</th><th>monologues</th>"
            + ("<th>words</th>" if tr else "") + "</tr>")
    body = []
    for name, row in speakers.items():
        if not isinstance(row, Mapping):
            continue
        count = row.get("raised_voice_count") or 0
        raised = f"{_secs(row.get('raised_voice_s'))} ({_e(count)}\u00d7)" if count else "none"
        body.append(f"<tr><td>{_e(name)}</td><td>{_secs(row.get('speech_s'))}</td><td>{raised}</td>"
                    f"<td>{_e(row.get('overlaps_started', 0))}</td><td>{_e(row.get('monologues', 0))}</td>"
                    + (f"<td>{_e(row.get('words', 0))}</td>" if tr else "") + "</tr>")
    parts.append(f'<table class="grid"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>')
    items = [
        ("duration", f"{fmt_time(s.get('duration'))} ({_secs(s.get('duration'))})"),
        ("overlaps", f"{_e(s.get('overlaps', 0))} ({_secs(s.get('overlap_s', 0))})"),
        ("long silences", f"{_e(s.get('silences', 0))} ({_secs(s.get('silence_s', 0))})"),
    ]
    for key in ("frames_dropped", "input_overflows"):
        if s.get(key):
            items.append((key.replace("_", " "), _e(s[key])))
    if not s.get("complete", True):
        items.append(("complete", "<b>no</b>: the audio could not be read to the end"))
    parts.append(_kv(items))
    if tr:
        t_items = []
        for key, value in tr.items():
            label = key.replace("_", " ")
            if key == "lag_s" and isinstance(value, Mapping):
                t_items.append(("lag", _e(", ".join(f"{k} {_secs(v)}" for k, v in value.items()))))
            elif isinstance(value, Mapping):
                t_items.append((label, _dict_words(value)))
            elif isinstance(value, float):
                t_items.append((label, f"{value:.2f}"))
            elif not isinstance(value, (list, tuple)):
                t_items.append((label, _e(value)))
        parts.append("<h3>Transcription</h3>" + _kv(t_items))
    if s.get("note"):
        parts.append(f'<p class="note">{_e(s["note"])}</p>')
    return "".join(parts)


def render_coaching(call: _Call) -> str:
    c = call.coach
    if not c:
        return '<p class="muted">No coaching summary in these events.</p>'
    parts = []
    steps = c.get("steps") if isinstance(c.get("steps"), Mapping) else {}
    items = []
    for key, label in STEPS:
        if key not in steps:
            continue
        done = bool(steps[key])
        box, word = ("\u2714", "covered") if done else ("\u2718", "missed")
        items.append(f'<li class="{"done" if done else "missed"}"><span class="box">{box}</span> '
                     f"<b>{word}</b> \u2013 {_e(label)}</li>")
    parts.append("<h3>The five steps</h3>" + (f'<ul class="checklist">{"".join(items)}</ul>'
                                                if items else '<p class="muted">not recorded</p>'))
    harmful = c.get("harmful_phrases") if isinstance(c.get("harmful_phrases"), Mapping) else {}
    said = [t for t in call.triggers if t["speaker"] == "operator" and t["category"] in HARMFUL]
    if harmful or said:
        lines = "".join(f"<li>{fmt_time(t['t'])} <b>{_e(t['category'])}</b>: \u201c{_e(t['text'])}\u201d</li>"
                        for t in said)
        parts.append(f"<h3>Harmful phrases</h3><p>{_dict_words(harmful)}</p>"
                     + (f"<ul>{lines}</ul>" if lines else ""))
    else:
        parts.append("<h3>Harmful phrases</h3><p>none</p>")

    pr = c.get("prompts") if isinstance(c.get("prompts"), Mapping) else {}
    after = pr.get("after_call") if isinstance(pr.get("after_call"), list) else []
    during = [p for p in call.prompts if not call.after_call(p)]
    if call.prompts:        # the events themselves (acknowledgements may follow the summary)
        counts: dict[str, int] = {}
        acked: dict[str, list[int]] = {}
        for p in during:
            status = call.prompt_status(p)
            counts[status] = counts.get(status, 0) + 1
            if status in ("used", "dismissed"):
                pair = acked.setdefault(p["kind"], [0, 0])
                pair[status == "dismissed"] += 1
        by_kind: dict[str, int] = {}
        for p in during:
            by_kind[p["kind"]] = by_kind.get(p["kind"], 0) + 1
        shown = f"{len(during)} ({_dict_words(dict(sorted(by_kind.items())))})"
        used, dismissed = counts.get("used", 0), counts.get("dismissed", 0)
        no_response = counts.get("no response", 0)
        rates = {k: v[1] / (v[0] + v[1]) for k, v in sorted(acked.items())}
        after = [p["prompt"] or p["id"] for p in call.prompts if call.after_call(p)]
    else:
        shown = f"{_e(pr.get('shown', 0))} ({_dict_words(pr.get('by_kind'))})"
        used, dismissed = pr.get("used", 0), pr.get("dismissed", 0)
        no_response = "-"
        rates = pr.get("override_rate") if isinstance(pr.get("override_rate"), Mapping) else {}
    rate = (", ".join(f"{_e(k)} {_pct(v)}" for k, v in rates.items())
            if rates else "no prompt was acknowledged")
    parts.append("<h3>Prompts</h3>" + _kv([
        ("shown", shown),
        ("used", _e(used)),
        ("dismissed", _e(dismissed)),
        ("no response", _e(no_response)),
        ("suppressed (held back by the prompt policy)", _dict_words(pr.get("suppressed"))),
        ("override rate (dismissed / acknowledged)", rate),
        ("after the call", _e(", ".join(map(str, after))) if after else "none"),
    ]))
    if call.prompts:
        rows = []
        for p in call.prompts:
            status = call.prompt_status(p)
            why = p["why"] if isinstance(p["why"], Mapping) else {}
            because = str(why.get("cue", ""))
            if why.get("quote"):
                because += f" \u201c{why['quote']}\u201d"
            if why.get("speaker"):
                because += f" ({why['speaker']})"
            rows.append(f'<tr class="st-{_css_name(status)}"><td class="time">{fmt_time(p["t"])}</td>'
                        f"<td>{_e(p['kind'])}</td><td><b>{_e(p['title'])}</b><br>"
                        f'<span class="body">{_e(p["body"])}</span></td><td>{_e(because)}</td>'
                        f'<td class="status">{_e(status)}</td></tr>')
        parts.append('<table class="grid prompts"><thead><tr><th>time</th><th>kind</th><th>prompt</th>'
                     '<th>why</th><th>operator</th></tr></thead><tbody>' + "".join(rows)
                     + "</tbody></table>")
    return "".join(parts)


def render_incident(call: _Call) -> str:
    inc = call.coach.get("incident")
    if not isinstance(inc, Mapping):
        return ""

    def items(key: str) -> str:
        values = inc.get(key)
        if not isinstance(values, list) or not values:
            return '<p class="muted">nothing recorded</p>'
        return "<ul>" + "".join(f"<li>{_e(v)}</li>" for v in values) + "</ul>"

    peak = inc.get("peak_state")
    return ('<section id="incident" class="incident"><h2>Incident record</h2>'
            + (f"<p>Peak state: {_state_badge(str(peak))}</p>" if peak else "")
            + "<h3>What happened</h3>" + items("what_happened")
            + "<h3>What was done</h3>" + items("what_was_done")
            + f"<h3>Outcome</h3><p>{_e(inc.get('outcome') or 'not recorded')}</p></section>")


# --------------------------------------------------------------------------- page

def _state_badge(level: str | None) -> str:
    if not level:
        return "-"
    fill, ink = STATE_STYLE.get(level, ("#dddddd", "#111111"))
    return f'<span class="badge" style="background:{fill};color:{ink}">{_e(level)}</span>'


CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #111; background: #fff; margin: 0 auto; padding: 20px 24px 40px; max-width: 1060px; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 19px; border-bottom: 2px solid #222; padding-bottom: 2px; margin: 28px 0 10px; }
h3 { font-size: 16px; margin: 16px 0 6px; }
.muted { color: #444; font-style: italic; }
.note { background: #eef3fb; border-left: 4px solid #1f4e99; padding: 6px 10px; }
.warn { background: #fdecea; border-left: 4px solid #b00020; padding: 6px 10px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.kv dt { font-weight: bold; }
dl.kv dd { margin: 0; }
.badge, .swatch { display: inline-block; padding: 0 7px; border-radius: 3px; font-weight: bold;
                  border: 1px solid #555; }
.swatch { margin-right: 4px; font-size: 13px; }
svg.timeline { width: 100%; height: auto; display: block; border: 1px solid #ccc; background: #fff; }
.legend { font-size: 13px; color: #222; }
.legend .key { display: inline-block; margin-right: 14px; }
table { border-collapse: collapse; width: 100%; }
table.grid th, table.grid td, table.transcript th, table.transcript td {
  border-bottom: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
table.transcript td.time { white-space: nowrap; color: #333; font-variant-numeric: tabular-nums; width: 4em; }
table.transcript td.spk { font-weight: bold; width: 6.5em; }
tr.spk-operator td.spk { color: #1f4e99; }
tr.spk-customer td.spk { color: #a34700; }
tr.orphan td { color: #444; }
mark { padding: 0 1px; border-bottom: 2px solid #111; color: #000; background: #fff0a0; }
mark.g-harmful { background: #ffc9c9; border-bottom-color: #b00020; }
mark.g-heat { background: #ffdcb5; border-bottom-color: #b34700; }
mark.g-helpful { background: #c8ecd0; border-bottom-color: #1b6e35; }
sup.cat, span.cat { font-size: 11px; font-weight: bold; margin-left: 2px; }
.g-harmful.cat { color: #b00020; } .g-heat.cat { color: #b34700; }
.g-helpful.cat { color: #1b6e35; } .g-other.cat { color: #4a4a4a; }
.tnote { font-size: 13px; color: #333; }
ul.checklist { list-style: none; padding-left: 0; }
ul.checklist .box { display: inline-block; width: 1.3em; text-align: center; font-weight: bold; }
li.done .box { color: #1b6e35; } li.missed .box { color: #b00020; }
table.prompts .body { color: #333; font-size: 14px; }
td.status { font-weight: bold; white-space: nowrap; }
tr.st-used td.status { color: #1b6e35; } tr.st-dismissed td.status { color: #b00020; }
section.incident { border: 2px solid #7a0e0e; padding: 4px 14px 10px; margin-top: 28px; }
section.incident h2 { margin-top: 8px; }
footer { margin-top: 30px; font-size: 12px; color: #444; }
@media print {
  body { padding: 0; max-width: none; font-size: 12px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; }
  svg.timeline, table.grid, dl.kv, section.incident, ul.checklist { break-inside: avoid; }
  tr { break-inside: avoid; }
}
"""


def render_report(events: list[dict]) -> str:
    """One self-contained HTML page for the call whose events these are.

    ``events`` are decoded event objects in stream order (``Event.to_dict()``,
    or the lines of an ``--events`` file parsed with ``json.loads``).  Returns
    the whole document as a string (UTF-8 when written).
    """
    call = _Call(events)
    title = f"Call {call.call_id}" if call.call_id else "Call report"
    peak = call.peak_state()
    final = call.coach.get("final_state")
    head_items = [
        ("call id", _e(call.call_id or "-")),
        ("source", _e(call.source or "-")),
        ("duration", f"{fmt_time(call.duration)} ({_secs(call.duration)})"),
        ("speakers", _e(", ".join(call.speakers) or "-")),
        ("peak state", _state_badge(peak)),
    ]
    if final:
        head_items.append(("final state", _state_badge(str(final))))
    notes = []
    if call.mono:
        notes.append('<p class="note"><b>mono recording: call-level cues</b> \u2013 the two sides '
                     "cannot be told apart, so loudness, raised voice and triggers belong to the "
                     "whole call, and talking over each other is not detected.</p>")
    if call.error or (call.summary is not None and not call.summary.get("complete", True)):
        notes.append(f'<p class="warn"><b>incomplete:</b> the audio could not be read to the end'
                     f"{': ' + _e(call.error) if call.error else ''}</p>")
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="calmline">',
        f"<title>{_e(title)} \u2013 calmline report</title>",
        f"<style>{CSS}</style></head><body>",
        f'<header><h1>{_e(title)}</h1>{_kv(head_items)}{"".join(notes)}</header>',
        '<section id="timeline"><h2>Timeline</h2>', render_timeline(call), _legend(), "</section>",
        '<section id="transcript-section"><h2>Transcript</h2>', render_transcript(call), "</section>",
        '<section id="summary"><h2>Summary</h2>', render_summary(call), "</section>",
        '<section id="coaching"><h2>Coaching</h2>', render_coaching(call), "</section>",
        render_incident(call),
        "<footer>calmline call report, built from the call's events; times are positions in the "
        "call audio (m:ss).</footer>",
        "</body></html>",
    ]
    return "\n".join(page)


def check_report_path(path: str | Path, option: str = "--report") -> Path:
    """Fail early (before a long replay) when the report could not be written."""
    path = Path(path)
    if path.is_dir():
        raise CalmlineError(f"{option} {path}: is a directory")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CalmlineError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CalmlineError(f"{option} {path}: cannot write (permission denied)")
    return path


def write_report(path: str | Path, events: list[dict], option: str = "--report") -> Path:
    """Render the report and write it to ``path`` (UTF-8); CalmlineError if it cannot."""
    path = check_report_path(path, option)
    page = render_report(events)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CalmlineError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    return path
