"""Phrase triggers: find playbook phrases in one speaker's transcript text.

    matcher = matcher_for(load_playbook("ru"))
    matcher.match("Я подам на вас в суд!", "customer")
    -> [Match(category="legal_threat", id="legal_threat.court", span=(17, 20), text="суд")]

How a line is matched (all of it compiled once, in the constructor; get a
language's matcher with :func:`matcher_for`, which builds it on first use and
keeps it for the process):

1. the text is folded (:func:`monitor.coaching.textnorm.fold`): case, punctuation and
   diacritics go, and every folded character remembers where it came from;
2. typo repair: a word at least ``fuzzy.min_length`` letters long that is not a
   playbook word but is one edit (insertion, deletion, substitution or swap of
   neighbours, same first letter) away from a playbook word or stem is read as
   that word (``supervisr`` -> ``supervisor``, ``руковадителя`` -> ``руководителя``);
3. every category of the speaker has one combined regular expression of its
   patterns (in playbook order: at one position the first listed pattern wins);
4. a match is dropped when it is negated (``[negation]`` of the playbook: a cue
   such as "not" / "не" / "nu" shortly before it, with only bridge words in
   between, in the same clause, and not inside an "if ..." condition) or when
   an ``[exceptions.<category>]`` phrase is near it ("I don't know *yet*");
5. spans are mapped back to the original text: ``text[start:end]`` is exactly
   the matched words as the transcript wrote them.

Matches come sorted by span start (then end, category, id).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Iterable

from monitor.coaching.patterns import Phrase
from monitor.coaching.playbook import Playbook
from monitor.coaching.textnorm import FoldedText, fold
from monitor.vocabulary import CATEGORIES, SPEAKERS

__all__ = ["Match", "TriggerMatcher", "matcher_for", "within_one_edit"]

_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class Match:
    """One trigger found in a line of text.

    ``span`` is ``[start, end)`` in character offsets of the *original* text and
    ``text`` is ``original[start:end]``.
    """

    category: str
    id: str
    span: tuple[int, int]
    text: str

    def to_dict(self) -> dict:
        return {"category": self.category, "id": self.id, "span": [self.span[0], self.span[1]]}


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion,
    substitution or swap of two neighbouring characters."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        if len(diff) == 2:
            i, j = diff
            return j == i + 1 and a[i] == b[j] and a[j] == b[i]
        return False
    if la > lb:
        a, b = b, a
        la, lb = lb, la
    # b is one longer: find the insertion
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _alternation(phrases: Iterable[Phrase]) -> re.Pattern | None:
    parts = [ph.regex for ph in phrases]
    if not parts:
        return None
    return re.compile("(?<= )(?:" + "|".join(parts) + ")")


class _Category:
    __slots__ = ("name", "regex", "ids", "negatable", "after", "before", "window")

    def __init__(self, name: str, playbook: Playbook) -> None:
        self.name = name
        pats = playbook.patterns_for(name)
        self.ids = [p.id for p in pats]
        if pats:
            self.regex = re.compile(
                "(?<= )(?:"
                + "|".join(f"(?P<p{i}>{p.phrase.regex})" for i, p in enumerate(pats))
                + ")"
            )
        else:
            self.regex = None
        self.negatable = name in playbook.negation.categories
        exc = playbook.exceptions.get(name)
        self.after = _alternation(exc.after) if exc else None
        self.before = _alternation(exc.before) if exc else None
        self.window = exc.window if exc else 0


class _Line:
    """A folded line after typo repair, with token bookkeeping."""

    __slots__ = ("folded", "words", "padded", "tok_starts", "tok_ends", "starts", "ends")

    def __init__(self, folded: FoldedText, words: list[str]) -> None:
        self.folded = folded
        self.words = words
        starts: list[int] = []
        ends: list[int] = []
        tok_starts: list[int] = []
        tok_ends: list[int] = []
        pos = 0
        for k, (w, (fs, fe)) in enumerate(zip(words, folded.tokens)):
            if k:
                starts.append(folded.starts[fs])
                ends.append(folded.starts[fs])
                pos += 1
            tok_starts.append(pos)
            if w == folded.text[fs:fe]:
                starts.extend(folded.starts[fs:fe])
                ends.extend(folded.ends[fs:fe])
            else:  # repaired word: every character covers the whole original word
                s0, e0 = folded.starts[fs], folded.ends[fe - 1]
                starts.extend([s0] * len(w))
                ends.extend([e0] * len(w))
            pos += len(w)
            tok_ends.append(pos)
        self.padded = " " + " ".join(words) + " "
        self.tok_starts = tok_starts
        self.tok_ends = tok_ends
        self.starts = starts
        self.ends = ends

    def phrase_tokens(self, m: re.Match) -> tuple[int, int, int, int]:
        """(folded start, folded end, first token, end token exclusive) of a match."""
        text = m.group(0)
        start = m.start() - 1
        end = start + len(text.rstrip(" "))
        # a raw re: pattern may start/end inside a word: widen to whole tokens
        first = self._token_of(start)
        last = self._token_of(max(start, end - 1))
        return start, end, first, last + 1

    def _token_of(self, pos: int) -> int:
        lo, hi = 0, len(self.tok_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.tok_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo


class TriggerMatcher:
    """Compiled phrase triggers of one playbook (one language).

    Build one per language and reuse it: the constructor compiles every
    pattern; :meth:`match` is cheap (thousands of lines per second).
    """

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self.language = playbook.language
        self._cats = {name: _Category(name, playbook) for name in CATEGORIES}
        self._by_speaker = {
            sp: [self._cats[c] for c in CATEGORIES if sp == "call" or CATEGORIES[c] == sp]
            for sp in SPEAKERS
        }
        neg = playbook.negation
        # the longest cue first: "no intention" before "no", "nu am de gand" before "nu"
        self._neg_cues = _alternation(
            sorted(neg.cues, key=lambda ph: -(ph.max_words if ph.max_words is not None else 99))
        )
        self._bridges = _alternation(neg.bridges)
        self._conditions = _alternation(neg.conditions)
        self._neg_window = neg.window
        self._build_fuzzy(playbook)
        self._repair_cache: dict[str, str] = {}

    # -- typo repair -----------------------------------------------------

    def _build_fuzzy(self, playbook: Playbook) -> None:
        self._min = playbook.fuzzy_min_length
        self._ignore = playbook.fuzzy_ignore
        exact: set[str] = set()
        exact_stems: set[str] = set()
        words: set[str] = set()
        stems: set[str] = set()
        phrases: list[Phrase] = [p.phrase for p in playbook.patterns]
        neg = playbook.negation
        phrases += list(neg.cues) + list(neg.bridges) + list(neg.conditions)
        for exc in playbook.exceptions.values():
            phrases += list(exc.after) + list(exc.before)
        for ph in phrases:
            exact |= ph.exact
            exact_stems |= ph.exact_stems
        for p in playbook.patterns:
            words |= p.phrase.words
            stems |= p.phrase.stems
        self._exact = frozenset(exact)
        self._exact_stems = frozenset(exact_stems)
        self._exact_stem_lengths = sorted({len(s) for s in exact_stems})
        self._word_index: dict[str, list[str]] = {}
        for w in sorted(words):
            for d in _deletes(w) | {w}:
                self._word_index.setdefault(d, []).append(w)
        self._stem_index: dict[str, list[str]] = {}
        for s in sorted(stems):
            for d in _deletes(s) | {s}:
                self._stem_index.setdefault(d, []).append(s)
        self._stem_lengths = sorted({len(s) for s in stems})

    def _known(self, tok: str) -> bool:
        if tok in self._exact:
            return True
        for n in self._exact_stem_lengths:
            if n > len(tok):
                break
            if tok[:n] in self._exact_stems:
                return True
        return False

    def repair(self, tok: str) -> str:
        """The playbook word ``tok`` most likely stands for (``tok`` itself if none)."""
        cached = self._repair_cache.get(tok)
        if cached is not None:
            return cached
        out = tok
        if len(tok) >= self._min and tok not in self._ignore and not tok.isdigit() and not self._known(tok):
            cands: list[str] = []
            for d in _deletes(tok) | {tok}:
                for w in self._word_index.get(d, ()):
                    if w[0] == tok[0] and within_one_edit(tok, w):
                        cands.append(w)
            if not cands:
                for n in self._stem_lengths:
                    for k in (n - 1, n, n + 1):
                        if k > len(tok) or k < self._min - 1:
                            continue
                        pre = tok[:k]
                        for d in _deletes(pre) | {pre}:
                            for s in self._stem_index.get(d, ()):
                                if s[0] == tok[0] and len(s) == n and within_one_edit(pre, s):
                                    cands.append(s + tok[k:])
            if cands:
                out = min(cands, key=lambda c: (abs(len(c) - len(tok)), c))
        if len(self._repair_cache) > _CACHE_LIMIT:
            self._repair_cache.clear()
        self._repair_cache[tok] = out
        return out

    # -- matching --------------------------------------------------------

    def _prepare(self, text: str) -> _Line:
        folded = fold(text)
        words = [self.repair(folded.text[s:e]) for s, e in folded.tokens]
        return _Line(folded, words)

    def _phrase_spans(self, rx: re.Pattern | None, line: _Line) -> list[tuple[int, int]]:
        """(first token, end token) of every match of ``rx``."""
        if rx is None:
            return []
        return [line.phrase_tokens(m)[2:] for m in rx.finditer(line.padded)]

    def _is_bridge(self, word: str) -> bool:
        return self._bridges is not None and self._bridges.fullmatch(" " + word + " ", 1) is not None

    def _negated(self, line: _Line, first: int, cues: list[tuple[int, int]]) -> bool:
        breaks = line.folded.breaks
        for c_first, c_end in cues:
            if c_end > first:
                continue
            gap = first - c_end
            if gap > self._neg_window:
                continue
            if any(t in breaks for t in range(c_end, first + 1)):
                continue
            if gap and not all(self._is_bridge(line.words[t]) for t in range(c_end, first)):
                continue
            if self._conditions is not None and any(
                self._conditions.fullmatch(" " + line.words[t] + " ", 1)
                for t in range(max(0, c_first - 2), c_first)
            ):
                continue
            return True
        return False

    def match(self, text: str, speaker: str) -> list[Match]:
        """Triggers of ``speaker``'s categories in ``text`` (one utterance).

        ``speaker`` is ``"operator"``, ``"customer"`` or ``"call"`` (mono: every
        category).  Raises ``ValueError`` for anything else.
        """
        try:
            cats = self._by_speaker[speaker]
        except KeyError:
            raise ValueError(
                f"unknown speaker {speaker!r} (expected one of: {', '.join(SPEAKERS)})"
            ) from None
        if not text or text.isspace():
            return []
        line = self._prepare(text)
        if not line.words:
            return []
        cues: list[tuple[int, int]] | None = None
        found: list[Match] = []
        for cat in cats:
            if cat.regex is None:
                continue
            for m in cat.regex.finditer(line.padded):
                start, end, first, last = line.phrase_tokens(m)
                if end <= start:
                    continue
                if cat.negatable:
                    if cues is None:
                        cues = self._phrase_spans(self._neg_cues, line)
                    if cues and self._negated(line, first, cues):
                        continue
                if cat.after is not None or cat.before is not None:
                    if self._excepted(cat, line, first, last):
                        continue
                idx = int(m.lastgroup[1:])  # type: ignore[index]
                s, e = line.starts[start], line.ends[end - 1]
                found.append(Match(cat.name, cat.ids[idx], (s, e), text[s:e]))
        found.sort(key=lambda x: (x.span[0], x.span[1], x.category, x.id))
        return found

    def _excepted(self, cat: _Category, line: _Line, first: int, last: int) -> bool:
        w = cat.window
        if cat.after is not None:
            for a, _b in self._phrase_spans(cat.after, line):
                if last <= a < last + w:
                    return True
        if cat.before is not None:
            for _a, b in self._phrase_spans(cat.before, line):
                if first - w < b <= first:
                    return True
        return False

    def match_many(self, lines: Iterable[str], speaker: str) -> list[list[Match]]:
        return [self.match(t, speaker) for t in lines]


_matchers: dict[int, tuple[Playbook, TriggerMatcher]] = {}
_matchers_lock = threading.Lock()
_MATCHERS_LIMIT = 64


def matcher_for(playbook: Playbook) -> TriggerMatcher:
    """The compiled matcher of ``playbook``: built the first time it is asked for,
    then shared by every call of the process (playbooks are immutable, and
    :func:`~monitor.coaching.playbook.load_playbook` hands out the same one while
    its file is unchanged)."""
    with _matchers_lock:
        hit = _matchers.get(id(playbook))
        if hit is not None and hit[0] is playbook:
            return hit[1]
        matcher = TriggerMatcher(playbook)
        if len(_matchers) >= _MATCHERS_LIMIT:   # playbooks edited again and again: start over
            _matchers.clear()
        _matchers[id(playbook)] = (playbook, matcher)
        return matcher
