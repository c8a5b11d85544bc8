"""The call's timeline as one inline SVG: state band, markers, loudness lanes, cues.

From the top: the escalation state as a coloured band with its word on it; the
phrase triggers (triangles) and the prompts (squares, filled by what the operator
did) with labels placed in rows where they fit; one loudness lane per speaker
(short-term level, the speaker's own baseline dashed, raised voice shaded, talking
over the other hatched); long silences and monologues; the m:ss axis.

The geometry is fixed (1000 units wide, lanes :data:`LANE_H` high), so the
drawing scales with the page.  The loudness of a long call is downsampled first
(about two points a second, at most :data:`MAX_POINTS` per speaker), so a
two-hour call draws in well under a second.  Every text from the events is
escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from monitor.report.call_view import CallView, LevelPoint
from monitor.report.look import (
    GROUP_COLOUR, GROUP_RANK, fmt_time, group, speaker_colour, state_colours,
)

#: most loudness points plotted per speaker (the plot is ~880 px wide)
MAX_POINTS = 3000
#: loudness bin for shorter calls, seconds (two points a second)
BIN_S = 0.5

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
DB_TOP_LOUD, DB_TOP, DB_BOTTOM = 0.0, -10.0, -70.0   # the lanes' dB range


def downsample(series: list[LevelPoint], duration: float,
               max_points: int = MAX_POINTS) -> list[LevelPoint]:
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


# --------------------------------------------------------------------------- drawing

class Svg:
    """SVG elements in drawing order, with x positions for call times."""

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
                 f'fill="{fill}" font-weight="{weight}"{extra}>{escape(s)}</text>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, title: str = "",
             extra: str = "") -> None:
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.8):.1f}" height="{h:.1f}" '
                 f'fill="{fill}" {extra}>{tip}</rect>')

    def span_label(self, x0: float, x1: float, y: float, words: list[str], **kw: Any) -> None:
        """The first of ``words`` that fits between x0 and x1, centred."""
        for w in words:
            if len(w) * CHAR_W + 4 <= x1 - x0:
                self.text((x0 + x1) / 2, y, w, anchor="middle", **kw)
                return


@dataclass(frozen=True)
class Rows:
    """Where each part of the drawing starts (y) for a call with ``lanes`` speakers."""

    lanes: int
    state: float = GAP

    @property
    def trig(self) -> float:
        return self.state + STATE_H + GAP

    @property
    def prompt(self) -> float:
        return self.trig + TRIG_H

    @property
    def first_lane(self) -> float:
        return self.prompt + MARK_H + GAP

    def lane(self, i: int) -> float:
        return self.first_lane + i * (LANE_H + GAP)

    @property
    def cues(self) -> float:
        return self.lane(self.lanes)

    @property
    def axis(self) -> float:
        return self.cues + CUES_H + 4

    @property
    def height(self) -> float:
        return self.axis + AXIS_H


def place(labels: list[tuple[float, str]], rows: int,
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


def ticks(duration: float) -> list[float]:
    """Axis ticks: a round step giving at most about 12 of them."""
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 12:
            break
    n = int(duration // step)
    return [i * step for i in range(n + 1)]


# --------------------------------------------------------------------------- the parts

HATCH = ('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
         'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
         '<line x1="0" y1="0" x2="0" y2="6" stroke="#222" stroke-width="2"/></pattern></defs>')


def draw_axis(svg: Svg, rows: Rows, duration: float) -> None:
    """The time grid behind everything and the m:ss axis at the bottom."""
    y_axis = rows.axis
    for t in ticks(duration):
        x = svg.x(t)
        svg.add(f'<line x1="{x:.1f}" y1="{rows.trig:.1f}" x2="{x:.1f}" y2="{y_axis:.1f}" '
                f'stroke="#e4e4e4" stroke-width="1"/>')
        label = fmt_time(t)
        if x + len(label) * CHAR_W / 2 > W:        # the last tick, at the very end
            svg.text(W - 2, y_axis + 16, label, anchor="end", fill="#333")
        else:
            svg.text(x, y_axis + 16, label, anchor="middle", fill="#333")
    svg.add(f'<line x1="{LEFT}" y1="{y_axis:.1f}" x2="{W - RIGHT}" y2="{y_axis:.1f}" stroke="#555"/>')
    svg.text(LEFT - 24, y_axis + 16, "m:ss", anchor="end", fill="#333")


def merge_states(timeline: list[tuple[float, str, str]]) -> list[list[Any]]:
    """The state changes as bands: a repeat of the same level is no change, and a
    later change at the same moment replaces the earlier one."""
    merged: list[list[Any]] = []
    for t, level, reason in timeline:
        if merged and level == merged[-1][1]:
            continue
        if merged and t <= merged[-1][0]:
            merged[-1][1:] = [level, reason]
            continue
        merged.append([t, level, reason])
    return merged


def draw_state_band(svg: Svg, rows: Rows, call: CallView, duration: float) -> None:
    y = rows.state
    svg.text(LEFT - 8, y + STATE_H / 2 + 4, "state", anchor="end", weight="bold")
    merged = merge_states(call.timeline())
    if not merged:
        svg.rect(LEFT, y, PW, STATE_H, "#f0f0f0", "", 'stroke="#bbb"')
        svg.text(LEFT + PW / 2, y + STATE_H / 2 + 4, "no escalation state in these events",
                 anchor="middle", fill="#333")
        return
    for i, (t, level, reason) in enumerate(merged):
        t_end = merged[i + 1][0] if i + 1 < len(merged) else duration
        x0, x1 = svg.x(t), svg.x(t_end)
        fill, ink = state_colours(level)
        why = f" (after {reason})" if reason else ""
        svg.rect(x0, y, x1 - x0, STATE_H, fill,
                 f"{level} {fmt_time(t)}-{fmt_time(t_end)}{why}", 'stroke="#ffffff" stroke-width="1"')
        svg.span_label(x0, x1, y + STATE_H / 2 + 4, [level, level[:1].upper()],
                       fill=ink, weight="bold", size=12)


def draw_triggers(svg: Svg, rows: Rows, call: CallView) -> None:
    """A triangle per trigger, coloured by group; labels for the most important first."""
    y = rows.trig
    svg.text(LEFT - 8, y + 14, "triggers", anchor="end", weight="bold")
    marks = call.triggers
    if not marks:
        svg.text(LEFT + 4, y + 14, "none", fill="#555")
    order = sorted(range(len(marks)), key=lambda i: (GROUP_RANK[group(marks[i].category)], marks[i].t))
    placed = place([(svg.x(m.t), m.category) for m in marks], 3, order)
    for mark, spot in zip(marks, placed):
        x = svg.x(mark.t)
        colour = GROUP_COLOUR[group(mark.category)]
        tip = f"{fmt_time(mark.t)} {mark.speaker or ''} {mark.category}: \u201c{mark.text}\u201d"
        svg.add(f'<path d="M{x - 5:.1f},{y + 2:.1f} L{x + 5:.1f},{y + 2:.1f} '
                f'L{x:.1f},{y + 11:.1f} Z" fill="{colour}"><title>{escape(tip)}</title></path>')
        if spot is not None:
            lx, row, label = spot
            svg.text(lx, y + 24 + row * 13, label, fill=colour)


def draw_prompts(svg: Svg, rows: Rows, call: CallView) -> None:
    """A square per prompt: filled green when used, white when dismissed, else grey."""
    y = rows.prompt
    svg.text(LEFT - 8, y + 14, "prompts", anchor="end", weight="bold")
    if not call.prompts:
        svg.text(LEFT + 4, y + 14, "none", fill="#555")
    status = [call.prompt_status(p) for p in call.prompts]
    labels = [(svg.x(p.t), f"{p.kind}: {st}") for p, st in zip(call.prompts, status)]
    for p, st, spot in zip(call.prompts, status, place(labels, 2)):
        x = svg.x(p.t)
        fill = {"used": "#1b6e35", "dismissed": "#ffffff"}.get(st, "#777777")
        tip = f"{fmt_time(p.t)} prompt {p.kind} \u2013 {p.title} ({st})"
        svg.add(f'<rect x="{x - 4.5:.1f}" y="{y + 2:.1f}" width="9" height="9" fill="{fill}" '
                f'stroke="#111" stroke-width="1.2"><title>{escape(tip)}</title></rect>')
        if spot is not None:
            lx, row, label = spot
            svg.text(lx, y + 24 + row * 13, label)


@dataclass(frozen=True)
class LevelScale:
    """dB -> y within a loudness lane; the top is 0 dB when anyone got near it, else -10."""

    top: float

    @classmethod
    def of(cls, call: CallView) -> "LevelScale":
        values = [v for s in call.speakers for _t, v, _b in call.levels.get(s, []) if v is not None]
        return cls(DB_TOP_LOUD if values and max(values) > -12.0 else DB_TOP)

    def y(self, db: float, y0: float) -> float:
        db = max(DB_BOTTOM, min(self.top, db))
        return y0 + 6 + (self.top - db) / (self.top - DB_BOTTOM) * (LANE_H - 22)


def draw_lane_frame(svg: Svg, speaker: str, colour: str, y0: float, scale: LevelScale) -> None:
    svg.rect(LEFT, y0, PW, LANE_H, "#fbfbfb", "", 'stroke="#c8c8c8"')
    name = speaker if len(speaker) <= 10 else speaker[:9] + "\u2026"
    svg.text(LEFT - 40, y0 + 16, name, anchor="end", weight="bold", fill=colour, size=12)
    svg.text(LEFT - 40, y0 + 30, "loudness", anchor="end", fill="#333", size=10)
    for db in range(int(scale.top), int(DB_BOTTOM) - 1, -20):
        yy = scale.y(db, y0)
        svg.add(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{W - RIGHT}" y2="{yy:.1f}" '
                f'stroke="#e2e2e2" stroke-width="1"/>')
        svg.text(LEFT - 4, yy + 3, f"{db} dB", anchor="end", fill="#555", size=9)


def draw_lane_spans(svg: Svg, call: CallView, speaker: str, y0: float) -> None:
    """The speaker's raised voice (shaded) and talking over the other (hatched)."""
    for s in call.spans["raised_voice"]:
        if s.speaker != speaker:
            continue
        x0, x1 = svg.x(s.t), svg.x(s.t_end)
        db = f", up to +{s.db:.0f} dB over baseline" if s.db is not None else ""
        svg.rect(x0, y0 + 1, x1 - x0, LANE_H - 2, "#f7c6bd",
                 f"{speaker} raised voice {fmt_time(s.t)}-{fmt_time(s.t_end)}{db}", 'class="raised"')
        svg.span_label(x0, x1, y0 + 13, ["raised voice", "raised", "R"], fill="#5c1000",
                       weight="bold", size=10)
    for s in call.spans["overlap"]:
        if s.speaker != speaker:
            continue
        x0, x1 = svg.x(s.t), svg.x(s.t_end)
        other = s.other or "the other"
        svg.rect(x0, y0 + LANE_H - 16, x1 - x0, 15, "url(#hatch)",
                 f"{speaker} talked over {other} {fmt_time(s.t)}-{fmt_time(s.t_end)}",
                 'class="overlap" stroke="#111" stroke-width="1"')
        svg.span_label(x0, x1, y0 + LANE_H - 20, [f"over {other}", "over"], fill="#111",
                       weight="bold", size=10)


def baseline_runs(points: list[LevelPoint]) -> list[list[tuple[float, float]]]:
    """The stretches with a known baseline: (t, dB) runs, split where it is unknown."""
    runs: list[list[tuple[float, float]]] = []
    run: list[tuple[float, float]] = []
    for t, _v, b in points:
        if b is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append((t, b))
    if run:
        runs.append(run)
    return runs


def draw_loudness(svg: Svg, call: CallView, speaker: str, colour: str, y0: float,
                  scale: LevelScale) -> None:
    """The short-term level as a solid line and the speaker's baseline dashed."""
    points = downsample(call.levels.get(speaker, []), svg.duration)
    line = " ".join(f"{svg.x(t):.1f},{scale.y(v, y0):.1f}" for t, v, _b in points if v is not None)
    if line:
        svg.add(f'<polyline class="loudness" points="{line}" fill="none" stroke="{colour}" '
                f'stroke-width="1.4" stroke-linejoin="round"/>')
    for run in baseline_runs(points):
        dots = " ".join(f"{svg.x(t):.1f},{scale.y(b, y0):.1f}" for t, b in run)
        svg.add(f'<polyline class="baseline" points="{dots}" fill="none" stroke="{colour}" '
                f'stroke-width="1" stroke-dasharray="5 4"><title>{escape(speaker)} baseline</title>'
                f'</polyline>')
    if not points:
        svg.text(LEFT + PW / 2, y0 + LANE_H / 2, "no level events", anchor="middle", fill="#555")


def draw_lanes(svg: Svg, rows: Rows, call: CallView) -> None:
    scale = LevelScale.of(call)
    for i, speaker in enumerate(call.speakers):
        y0 = rows.lane(i)
        colour = speaker_colour(speaker, i)
        svg.add(f'<g class="lane" data-speaker="{escape(speaker)}">')
        draw_lane_frame(svg, speaker, colour, y0, scale)
        draw_lane_spans(svg, call, speaker, y0)
        draw_loudness(svg, call, speaker, colour, y0, scale)
        svg.add("</g>")


def draw_cues(svg: Svg, rows: Rows, call: CallView) -> None:
    """Long silences (a bar, and a shade over every lane) and monologues."""
    y = rows.cues
    svg.text(LEFT - 8, y + CUES_H / 2 + 4, "silence", anchor="end", weight="bold")
    for s in call.spans["silence"]:
        x0, x1 = svg.x(s.t), svg.x(s.t_end)
        svg.rect(x0, rows.first_lane, x1 - x0, y - rows.first_lane - GAP, "#000000", "",
                 'fill-opacity="0.06" class="silence-shade"')
        svg.rect(x0, y, x1 - x0, CUES_H, "#cfcfcf",
                 f"silence {fmt_time(s.t)}-{fmt_time(s.t_end)} ({(s.t_end or 0) - s.t:.1f} s)",
                 'class="silence" stroke="#777"')
        svg.span_label(x0, x1, y + CUES_H / 2 + 4, ["silence", "S"], fill="#111", size=10)
    for s in call.spans["monologue"]:
        x0, x1 = svg.x(s.t), svg.x(s.t_end)
        who = s.speaker or "call"
        svg.rect(x0, y + 3, x1 - x0, CUES_H - 6, "#c9d7f0",
                 f"{who} monologue {fmt_time(s.t)}-{fmt_time(s.t_end)}",
                 'class="monologue" stroke="#1f4e99"')
        svg.span_label(x0, x1, y + CUES_H / 2 + 4, [f"monologue ({who})", "monologue", "M"],
                       fill="#0b2a5c", size=10)


def render_timeline(call: CallView) -> Markup:
    """The whole timeline as one ``<svg>`` element."""
    duration = max(call.duration or 0.0, 1.0)
    svg = Svg(duration)
    rows = Rows(len(call.speakers))
    svg.add(HATCH)
    draw_axis(svg, rows, duration)
    draw_state_band(svg, rows, call, duration)
    draw_triggers(svg, rows, call)
    draw_prompts(svg, rows, call)
    draw_lanes(svg, rows, call)
    draw_cues(svg, rows, call)
    return Markup(
        f'<svg class="timeline" viewBox="0 0 {W} {rows.height:.0f}" width="{W}" '
        f'height="{rows.height:.0f}" role="img" aria-label="Call timeline: escalation state, '
        f'triggers, prompts and loudness per speaker" font-family="Arial, Helvetica, sans-serif">'
        f"<title>Call timeline</title>{''.join(svg.parts)}</svg>")
