"""The playbook's pattern language, from text to nodes.

Words are matched on folded text (:mod:`monitor.coaching.textnorm`: case, accents
and punctuation do not matter, ``don't`` = ``dont``), in order, one after the
other:

``word``            that word
``word*``           a word starting with ``word`` (stem + any ending)
``a b|c d``         alternatives: ``|`` separates whole phrases, up to the
                    nearest bracket (like in regular expressions)
``(a|b) c``         brackets limit the alternatives: "a c" or "b c"
``[a|b] c``         an optional part: "c", "a c" or "b c" (``(a|b)?`` too)
``..`` / ``..N``    up to 3 / up to N (1-8) other words
``=word``           exactly this word: never matched through a typo
``/regex/``         one word matching a regular expression, e.g. ``/\\d+/``
``@name``           the alternatives of ``[groups] name = "..."``
``re:REGEX``        (whole pattern) a raw regular expression searched in the
                    folded text, where words are separated by one space

The parser checks everything a person can get wrong and says what, and where in
the pattern, with :class:`PatternError`; its result is nodes
(:mod:`monitor.coaching.patterns`), which :func:`parse_pattern` also compiles
into a :class:`~monitor.coaching.patterns.Phrase`.  Loading a playbook compiles
no trigger pattern: only the regular expressions a person wrote (``/.../`` and
``re:``) are compiled, to check them, alone and as a part of a bigger one.
"""

from __future__ import annotations

import re
from typing import Mapping

from monitor.coaching.patterns import (DEFAULT_FUZZY_MIN, DEFAULT_GAP, MAX_GAP, Alt, Gap, Node,
                                       Optional, Phrase, RawRegex, Regex, Seq, Stem, Word,
                                       compile_phrase, min_words)
from monitor.coaching.textnorm import fold_phrase

__all__ = ["PatternError", "parse", "parse_group", "parse_pattern"]


class PatternError(ValueError):
    """A pattern that cannot be compiled (message says why, without the place)."""


def _check_user_regex(body: str, what: str) -> re.Pattern:
    """Compile a regular expression a person wrote, alone and as a part of a bigger one."""
    try:
        compiled = re.compile(body)
    except re.error as exc:
        raise PatternError(f"bad regular expression {what}: {exc}") from None
    try:
        re.compile("(?:" + body + ")")
    except re.error as exc:   # e.g. global flags such as (?i): refused inside a bigger one
        raise PatternError(f"bad regular expression {what}: it cannot be part of a pattern "
                           f"({exc.msg})") from None
    if compiled.groups:
        raise PatternError(f"regular expression {what} has a capturing group; use (?:...) instead")
    return compiled


class _Parser:
    def __init__(self, src: str, groups: Mapping[str, Alt] | None = None) -> None:
        self.s = src
        self.i = 0
        self.groups = groups or {}

    def error(self, msg: str) -> PatternError:
        return PatternError(f"{msg} (at character {self.i + 1} of {self.s!r})")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def parse(self) -> Seq:
        seqs = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            seqs.append(self.seq())
        self.skip_ws()
        if self.i < len(self.s):
            ch = self.peek()
            if ch in ")]":
                raise self.error(f"unbalanced {ch!r}")
            raise self.error(f"unexpected {ch!r}")  # pragma: no cover
        if len(seqs) == 1:
            return seqs[0]
        if any(not sq.items for sq in seqs):
            raise self.error("empty alternative around '|'")
        return Seq((Alt(tuple(seqs)),))

    def seq(self) -> Seq:
        items: list[Node] = []
        while True:
            self.skip_ws()
            ch = self.peek()
            if not ch or ch in ")]" or ch == "|":
                break
            if ch in "([":
                if self.i and not (self.s[self.i - 1].isspace() or self.s[self.i - 1] in "([|"):
                    raise self.error(
                        "put a space before a bracket: brackets group whole words, "
                        "for endings use a stem like word*"
                    )
                items.append(self.group())
                nxt = self.peek()
                if nxt and not (nxt.isspace() or nxt in ")]|"):
                    raise self.error("put a space after a closing bracket")
            elif ch == "@":
                items.append(self.group_ref())
            elif self.s.startswith("..", self.i):
                items.append(self.gap())
            else:
                items.append(self.atom())
        return Seq(tuple(items))

    def group(self) -> Alt | Optional:
        opener = self.s[self.i]
        closer = ")" if opener == "(" else "]"
        start = self.i
        self.i += 1
        seqs = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            seqs.append(self.seq())
        if self.peek() != closer:
            self.i = start
            raise self.error(f"{opener!r} is never closed with {closer!r}")
        self.i += 1
        optional = opener == "["
        if self.peek() == "?":  # (a|b)? is the same as [a|b]
            self.i += 1
            optional = True
        if any(not sq.items for sq in seqs):
            self.i = start
            raise self.error("empty alternative inside brackets")
        alt = Alt(tuple(seqs))
        return Optional(alt) if optional else alt

    def group_ref(self) -> Alt:
        start = self.i
        self.i += 1
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] == "_"):
            self.i += 1
        name = self.s[start + 1 : self.i]
        ch = self.peek()
        if not name:
            self.i = start
            raise self.error("'@' must be followed by a group name, as in @boss")
        if ch and not ch.isspace() and ch not in ")]|":
            self.i = start
            raise self.error(f"unexpected {ch!r} after @{name}")
        if name not in self.groups:
            self.i = start
            known = ", ".join("@" + g for g in self.groups) or "none defined"
            raise self.error(f"unknown group @{name} (known: {known})")
        return self.groups[name]

    def gap(self) -> Gap:
        self.i += 2
        j = self.i
        while self.i < len(self.s) and self.s[self.i].isdigit():
            self.i += 1
        n = int(self.s[j : self.i]) if self.i > j else DEFAULT_GAP
        ch = self.peek()
        if ch and not ch.isspace() and ch not in ")]|":
            raise self.error("a gap '..' or '..N' must stand alone between words")
        if not 1 <= n <= MAX_GAP:
            raise self.error(f"a gap allows 1 to {MAX_GAP} words, not {n}")
        return Gap(n)

    def atom(self) -> Word | Stem | Regex:
        if self.peek() == "/":
            return self.regex()
        start = self.i
        while self.i < len(self.s):
            c = self.s[self.i]
            if c.isspace() or c in "|()[]":
                break
            self.i += 1
        raw = self.s[start : self.i]
        if not raw:
            raise self.error("expected a word")
        exact = raw.startswith("=")
        if exact:
            raw = raw[1:]
        stem = raw.endswith("*")
        if stem:
            raw = raw[:-1]
        if "*" in raw:
            raise self.error("'*' may only end a word (a stem), as in lawyer*")
        if raw.startswith("..") or raw.endswith(".."):
            raise self.error("a gap '..' must be separated from words by spaces")
        folded = fold_phrase(raw)
        if not folded:
            raise self.error(f"{raw!r} has no letters or digits")
        return Stem(folded, exact) if stem else Word(folded, exact)

    def regex(self) -> Regex:
        start = self.i
        self.i += 1
        buf = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < len(self.s):
                buf.append(self.s[self.i : self.i + 2])
                self.i += 2
                continue
            if c == "/":
                break
            buf.append(c)
            self.i += 1
        if self.peek() != "/":
            self.i = start
            raise self.error("regular expression '/...' is never closed with '/'")
        self.i += 1
        body = "".join(buf).replace("\\/", "/")
        if not body:
            raise self.error("empty regular expression '//'")
        try:
            compiled = _check_user_regex(body, f"/{body}/")
        except PatternError as exc:
            raise self.error(str(exc)) from None
        if compiled.fullmatch(""):
            raise self.error(f"regular expression /{body}/ matches an empty word")
        return Regex(body)


def parse(source: object, groups: Mapping[str, Alt] | None = None) -> Node:
    """The nodes of one pattern; raise :class:`PatternError` for a mistake."""
    if not isinstance(source, str):
        raise PatternError(f"a pattern must be a string, not {type(source).__name__}")
    src = source.strip()
    if not src:
        raise PatternError("empty pattern")
    if src.startswith("re:"):
        body = src[3:].strip()
        if not body:
            raise PatternError("empty regular expression after 're:'")
        compiled = _check_user_regex(body, repr(body))
        if compiled.search("") is not None or compiled.fullmatch(" ") is not None:
            raise PatternError(f"regular expression {body!r} can match nothing")
        return RawRegex(body)
    node = _Parser(src, groups).parse()
    if not node.items:
        raise PatternError("empty pattern")
    if _edge_gap(node):
        raise PatternError("a pattern cannot start or end with a gap '..'")
    if min_words(node) == 0:
        raise PatternError("every part of the pattern is optional; it would match anything")
    return node


def parse_group(source: object, groups: Mapping[str, Alt] | None = None) -> Alt:
    """Parse the text of a ``[groups]`` entry: alternative phrases separated by
    ``|`` (as inside brackets), for ``@name`` in later patterns."""
    if not isinstance(source, str):
        raise PatternError(f"a group must be a string, not {type(source).__name__}")
    if not source.strip():
        raise PatternError("empty group")
    node = _Parser("(" + source.strip() + ")", groups).parse()
    if len(node.items) != 1 or not isinstance(node.items[0], Alt):
        raise PatternError("a group is a list of alternatives separated by '|'")
    alt = node.items[0]
    if min_words(alt) == 0:
        raise PatternError("a group cannot be empty")
    return alt


def _edge_gap(seq: Seq) -> bool:
    """True when some way through ``seq`` starts or ends with a gap."""
    if not seq.items:
        return False
    for item in (seq.items[0], seq.items[-1]):
        if isinstance(item, Optional):
            item = item.alt
        if isinstance(item, Gap):
            return True
        if isinstance(item, Alt) and any(_edge_gap(sq) for sq in item.options):
            return True
    return False


def parse_pattern(
    source: object,
    fuzzy_min_length: int = DEFAULT_FUZZY_MIN,
    groups: Mapping[str, Alt] | None = None,
) -> Phrase:
    """Parse and compile one pattern (syntax in the module docstring); raise
    :class:`PatternError` naming what is wrong."""
    return compile_phrase(parse(source, groups), source, fuzzy_min_length)  # type: ignore[arg-type]
