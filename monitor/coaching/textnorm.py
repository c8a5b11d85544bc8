"""Folding transcript text so that phrase patterns survive ASR noise.

:func:`fold` turns an utterance into a *folded* string: lowercase, no
diacritics, no punctuation, single spaces between words, and it remembers, for
every folded character, which characters of the original string it came from.
A match found in the folded string can therefore be reported as a span of the
original text, which is what the operator screen highlights.

What folding does, character by character:

- case: lowercased (``Ş`` -> ``ş`` -> ``s``);
- diacritics are dropped after a compatibility decomposition (NFKD): Romanian
  ``ă â î ș ş ț ţ`` -> ``a a i s s t t``, French/German accents likewise,
  Russian ``ё`` -> ``е``, and ``й`` -> ``и`` (its breve is a diacritic too;
  patterns go through the same function, so ``мой`` in a playbook still matches
  ``мой`` or ``мои`` in a transcript).  Cyrillic stays Cyrillic: nothing is
  transliterated;
- apostrophes (``'`` ``’`` ``ʼ`` `````) are removed *without* a space, so ``don't``,
  ``don’t`` and ``dont`` all fold to ``dont``;
- every other character that is not a letter or a digit (punctuation, hyphens,
  symbols, underscores) becomes a word break, so Romanian ``n-am`` folds to
  ``n am`` and ``e-mail`` to ``e mail``;
- runs of word breaks collapse into one space; no leading or trailing space.

Clause punctuation (``. , ; : ! ? …`` and dashes) is also remembered as a
*clause break* before the next word; the negation logic uses it so that
"No. I will sue you" is not read as a negated threat.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["FoldedText", "fold", "fold_phrase", "fold_char"]

#: Characters removed without leaving a word break.
APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u02b9`\u00b4\u2032")
#: Punctuation that ends a clause (a word break that also stops negation scope).
CLAUSE_BREAKS = frozenset(".,;:!?\u2026\u2014\u2013\u00bf\u00a1\u061f\u3002")


@lru_cache(maxsize=4096)
def fold_char(ch: str) -> str:
    """The folded form of one character: ``""`` (dropped), ``" "`` (word break),
    or one or more lowercase letters/digits."""
    if ch in APOSTROPHES:
        return ""
    out = []
    for c in unicodedata.normalize("NFKD", ch):
        if unicodedata.combining(c):
            continue
        for low in unicodedata.normalize("NFKD", c.lower()):
            if unicodedata.combining(low):
                continue
            out.append(low if low.isalnum() else " ")
    folded = "".join(out)
    if not folded:
        # A lone combining mark (text already in NFD form): drop it, it belongs
        # to the previous character.
        return "" if unicodedata.combining(ch) else " "
    return folded


@dataclass(frozen=True)
class FoldedText:
    """A folded string with the way back to the original.

    ``starts[i]`` / ``ends[i]`` are the original character offsets covered by
    folded character ``i`` (``ends`` is exclusive and includes any combining
    marks that followed in the original).  ``tokens`` are the folded words as
    ``(start, end)`` offsets into :attr:`text`; ``breaks`` holds the indexes of
    the tokens that start a new clause (punctuation came before them).
    """

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    tokens: tuple[tuple[int, int], ...]
    breaks: frozenset[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a folded span ``[start, end)`` to an original span ``[s, e)``."""
        if end <= start:
            raise ValueError(f"empty span [{start}, {end})")
        return self.starts[start], self.ends[end - 1]

    def token_at(self, pos: int) -> int:
        """Index of the token that contains (or starts at) folded offset ``pos``."""
        return bisect_right(self._token_starts, pos) - 1

    @property
    def _token_starts(self) -> list[int]:
        cached = self.__dict__.get("_tstarts")
        if cached is None:
            cached = [s for s, _ in self.tokens]
            object.__setattr__(self, "_tstarts", cached)
        return cached

    def words(self) -> list[str]:
        return [self.text[s:e] for s, e in self.tokens]


def fold(text: str) -> FoldedText:
    """Fold ``text`` (see the module docstring) keeping the map to the original."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    tokens: list[tuple[int, int]] = []
    breaks: set[int] = set()
    pending_space = False
    pending_break = False
    tok_start = -1
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        f = fold_char(ch)
        if not f:
            i += 1
            continue
        # original extent of this character: itself plus following combining marks
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        for c in f:
            if c == " ":
                if tok_start >= 0:
                    tokens.append((tok_start, len(out)))
                    tok_start = -1
                pending_space = True
                continue
            if tok_start < 0:
                if pending_space and out:
                    out.append(" ")
                    starts.append(i)
                    ends.append(i)
                tok_start = len(out)
                if pending_break and tokens:
                    breaks.add(len(tokens))
                pending_space = False
                pending_break = False
            out.append(c)
            starts.append(i)
            ends.append(j)
        if ch in CLAUSE_BREAKS:
            pending_break = True
        i = j
    if tok_start >= 0:
        tokens.append((tok_start, len(out)))
    return FoldedText(
        original=text,
        text="".join(out),
        starts=tuple(starts),
        ends=tuple(ends),
        tokens=tuple(tokens),
        breaks=frozenset(breaks),
    )


@lru_cache(maxsize=8192)
def fold_phrase(text: str) -> str:
    """Just the folded string (for patterns, vocabularies and comparisons)."""
    return fold(text).text
