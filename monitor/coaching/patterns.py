"""The playbook's pattern language as small typed nodes, and their compiler.

A pattern such as ``speak to [your|the] manager*`` is parsed
(:mod:`monitor.coaching.pattern_parser`, where the syntax is described) into
frozen nodes: :class:`Word`, :class:`Stem` (a word with any ending),
:class:`Regex` (one word given as a regular expression), :class:`Gap` (up to N
other words), :class:`Seq`, :class:`Alt` (alternatives), :class:`Optional` and
:class:`RawRegex` (a whole pattern given as a regular expression).

:func:`compile_phrase` turns nodes into a :class:`Phrase`: the regular
expression *text* the trigger matcher combines and compiles (on first use, see
:mod:`monitor.coaching.triggers`) and the words typo repair may correct to.
Nothing here compiles a regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Union

__all__ = [
    "MAX_GAP", "DEFAULT_GAP", "DEFAULT_FUZZY_MIN", "Phrase",
    "Word", "Stem", "Regex", "Seq", "Alt", "Optional", "Gap", "RawRegex", "Node",
    "min_words", "max_words", "compile_phrase",
]

MAX_GAP = 8
DEFAULT_GAP = 3
DEFAULT_FUZZY_MIN = 7


# --- nodes ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Word:
    """A folded word (folding may split it: ``n-am`` is ``n am``); ``exact``: no typo repair."""

    text: str
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Stem:
    """A word starting with ``text``."""

    text: str
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Regex:
    """One word given as a regular expression (``/.../``)."""

    body: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Up to ``most`` other words."""

    most: int


@dataclass(frozen=True, slots=True)
class Seq:
    """Parts one after the other."""

    items: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Alt:
    """One of several sequences (``a|b``, ``(a|b)``, a ``[groups]`` entry)."""

    options: tuple[Seq, ...]


@dataclass(frozen=True, slots=True)
class Optional:
    """Alternatives that may also be left out (``[a|b]``, ``(a|b)?``)."""

    alt: Alt


@dataclass(frozen=True, slots=True)
class RawRegex:
    """A whole pattern given as a regular expression on the folded text (``re:``)."""

    body: str


Node = Union[Word, Stem, Regex, Gap, Seq, Alt, Optional, RawRegex]


# --- what the matcher uses ----------------------------------------------------------------------
@dataclass(frozen=True)
class Phrase:
    """One parsed pattern and what the matcher makes of it: a regex over padded
    folded text (``" " + text + " "``).

    The regex starts at a word start and consumes each word *with* its trailing
    space; strip that space from a match to get the matched words.  The regex
    text and the words typo repair may correct to are worked out the first time
    the matcher asks for them, not when the playbook loads.
    """

    source: str
    node: "Node"
    fuzzy_min_length: int = DEFAULT_FUZZY_MIN
    min_words: int = 1
    max_words: int | None = None  # None: unknown (raw regex)

    @cached_property
    def _made(self) -> tuple[str, frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
        if isinstance(self.node, RawRegex):
            empty: frozenset[str] = frozenset()
            return "(?:" + self.node.body + ")", empty, empty, empty, empty
        vocab = _Vocab(self.fuzzy_min_length)
        regex = _emit(self.node, vocab)
        return (regex, frozenset(vocab.words), frozenset(vocab.stems), frozenset(vocab.exact),
                frozenset(vocab.exact_stems))

    @property
    def regex(self) -> str:
        return self._made[0]

    @property
    def words(self) -> frozenset[str]:
        """Literal words a typo may be corrected to."""
        return self._made[1]

    @property
    def stems(self) -> frozenset[str]:
        """Stems a typo may be corrected to."""
        return self._made[2]

    @property
    def exact(self) -> frozenset[str]:
        """Every literal word (never corrected away)."""
        return self._made[3]

    @property
    def exact_stems(self) -> frozenset[str]:
        return self._made[4]


# --- the compiler -------------------------------------------------------------------------------
def min_words(node: Node) -> int:
    match node:
        case Word(text) | Stem(text):
            return len(text.split(" "))
        case Regex() | RawRegex():
            return 1
        case Gap() | Optional():
            return 0
        case Seq(items):
            return sum(min_words(x) for x in items)
        case Alt(options):
            return min(min_words(s) for s in options)
    raise AssertionError(node)


def max_words(node: Node) -> int | None:
    match node:
        case Word(text) | Stem(text):
            return len(text.split(" "))
        case Regex():
            return 1
        case RawRegex():
            return None
        case Gap(most):
            return most
        case Seq(items):
            return sum(max_words(x) for x in items)  # type: ignore[misc]
        case Alt(options):
            return max(max_words(s) for s in options)  # type: ignore[type-var]
        case Optional(alt):
            return max_words(alt)
    raise AssertionError(node)


class _Vocab:
    """The literal words and stems of a pattern, as typo repair needs them."""

    def __init__(self, fuzzy_min: int) -> None:
        self.fuzzy_min = fuzzy_min
        self.words: set[str] = set()
        self.stems: set[str] = set()
        self.exact: set[str] = set()
        self.exact_stems: set[str] = set()

    def correctable(self, text: str, exact: bool) -> bool:
        return not exact and " " not in text and len(text) >= self.fuzzy_min


def _emit(node: Node, vocab: _Vocab) -> str:
    match node:
        case Word(text, exact):
            vocab.exact.add(text)
            if vocab.correctable(text, exact):
                vocab.words.add(text)
            return re.escape(text) + " "
        case Stem(text, exact):
            vocab.exact_stems.add(text)
            if vocab.correctable(text, exact):
                vocab.stems.add(text)
            return re.escape(text) + "[^ ]* "
        case Regex(body):
            return "(?:" + body + ") "
        case Gap(most):
            return "(?:[^ ]+ ){0,%d}" % most
        case Seq(items):
            return "".join(_emit(x, vocab) for x in items)
        case Alt(options):
            return "(?:" + "|".join(_emit(s, vocab) for s in options) + ")"
        case Optional(alt):
            return _emit(alt, vocab) + "?"
    raise AssertionError(node)


def compile_phrase(node: Node, source: str, fuzzy_min_length: int = DEFAULT_FUZZY_MIN) -> Phrase:
    """What the matcher uses for a parsed pattern (its regex text and vocabulary,
    worked out when first asked for)."""
    if isinstance(node, RawRegex):
        return Phrase(source, node, fuzzy_min_length, min_words=1, max_words=None)
    return Phrase(source, node, fuzzy_min_length, min_words=min_words(node),
                  max_words=max_words(node))
