"""The coaching playbook: phrase triggers and prompt texts, as data, per language.

A playbook is one TOML file per language (``monitor/coaching/playbooks/en.toml`` and so
on) that a contact-center lead can edit without touching code.  The comment
block at the top of each bundled file explains the format; in brief::

    language = "en"                       # required, must match the file name
    name = "English"                      # optional, for people

    [fuzzy]                               # optional: tolerance for ASR typos
    min_length = 7                        # words this long may have one typo
    ignore = ["managed"]                  # words never "corrected"

    [negation]                            # optional: "I'm not going to sue"
    categories = ["legal_threat", ...]    # categories a negation cancels
    cues = ["not", "dont|doesnt", ...]    # patterns that negate what follows
    bridges = ["going", "to", ...]        # words allowed between cue and phrase
    conditions = ["if", "unless"]         # "if you don't ..., I'll sue" is no negation
    window = 5                            # at most this many words in between

    [exceptions.dont_know]                # optional: do not fire when ...
    after = ["yet", "let me check"]       # ... one of these follows within window words
    before = []                           # ... one of these comes just before
    window = 8

    [triggers]                            # phrase patterns per category
    legal_threat = [
      { id = "sue", pattern = "sue|suing|sued" },
      { id = "court", pattern = ["take you to court", "see you in court"] },
    ]

    [[prompts]]                           # prompt texts shown to the operator
    id = "boundary.abuse"
    kind = "boundary"                     # breathe, de_escalate, boundary, plan,
    title = "..."                         #   listen, empathy, technique
    body = "..."                          # title <= 6 words, body <= 25 words
    when = ["abuse"]                      # optional: categories/cues it answers

Pattern syntax (see :func:`parse_pattern`): words are matched on folded text
(:mod:`monitor.coaching.textnorm`), in order, one after the other; ``word*`` is a stem
(any ending), ``a b|c d`` alternative phrases (``|`` reaches up to the nearest
bracket, as in regular expressions: ``(want|need) to``), ``[ ... ]`` an
optional part, ``..`` / ``..N`` a gap of up to 3 / N
words, ``=word`` a word that must not be typo-corrected, ``/regex/`` one word
given as a regular expression, and a whole pattern starting with ``re:`` a raw
regular expression on the folded text.

Everything is checked when the file is loaded; a mistake raises
:class:`~monitor.errors.CalmlineError` naming the file, the place
(``triggers.legal_threat[3]``) and what is wrong.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from monitor.errors import CalmlineError
from monitor.coaching.textnorm import fold_phrase
from monitor.vocabulary import CATEGORIES, CUES, LANGUAGES, PROMPT_KINDS

__all__ = [
    "TITLE_MAX_WORDS",
    "BODY_MAX_WORDS",
    "Pattern",
    "Phrase",
    "Negation",
    "Exceptions",
    "Prompt",
    "Playbook",
    "PatternError",
    "parse_pattern",
    "parse_group",
    "bundled_dir",
    "load_playbook_file",
    "load_playbook",
    "load_playbooks",
]

TITLE_MAX_WORDS = 6
BODY_MAX_WORDS = 25
MAX_GAP = 8
DEFAULT_GAP = 3
DEFAULT_FUZZY_MIN = 7

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_PROMPT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.]*$")

_TOP_KEYS = {"language", "name", "fuzzy", "groups", "negation", "exceptions", "triggers", "prompts"}
_GROUP_RE = re.compile(r"^[A-Za-z0-9_]+$")


# --------------------------------------------------------------------------
# Pattern language
# --------------------------------------------------------------------------


class PatternError(ValueError):
    """A pattern that cannot be compiled (message says why, without the place)."""


@dataclass(frozen=True)
class Phrase:
    """One compiled pattern: a regex over padded folded text (``" " + text + " "``).

    The regex starts at a word start and consumes each word *with* its trailing
    space; strip that space from a match to get the matched words.
    """

    source: str
    regex: str
    words: frozenset[str] = frozenset()  # literal words a typo may be corrected to
    stems: frozenset[str] = frozenset()  # stems a typo may be corrected to
    exact: frozenset[str] = frozenset()  # every literal word (never corrected away)
    exact_stems: frozenset[str] = frozenset()
    min_words: int = 1
    max_words: int | None = None  # None: unknown (raw regex)


@dataclass(frozen=True)
class Pattern:
    """A trigger pattern of the playbook."""

    id: str  # full id, e.g. "legal_threat.sue"
    category: str
    speaker: str
    place: str  # e.g. "triggers.legal_threat[3]" (for messages)
    phrase: Phrase

    @property
    def source(self) -> str:
        return self.phrase.source


# AST nodes: ("word", w, exact) ("stem", w, exact) ("rx", r) ("seq", [items])
# ("choice", [seqs], optional) ("gap", n)


class _Parser:
    def __init__(self, src: str, groups: Mapping[str, tuple] | None = None) -> None:
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

    def parse(self) -> tuple:
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
        for sq in seqs:
            if not sq[1]:
                raise self.error("empty alternative around '|'")
        return ("seq", [("choice", seqs, False)])

    def seq(self) -> tuple:
        items: list[tuple] = []
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
        return ("seq", items)

    def group(self) -> tuple:
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
        for sq in seqs:
            if not sq[1]:
                self.i = start
                raise self.error("empty alternative inside brackets")
        return ("choice", seqs, optional)

    def group_ref(self) -> tuple:
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

    def gap(self) -> tuple:
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
        return ("gap", n)

    def atom(self) -> tuple:
        ch = self.peek()
        if ch == "/":
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
                compiled = re.compile(body)
            except re.error as exc:
                raise self.error(f"bad regular expression /{body}/: {exc}") from None
            if compiled.groups:
                raise self.error(
                    f"regular expression /{body}/ has a capturing group; use (?:...) instead"
                )
            if compiled.fullmatch(""):
                raise self.error(f"regular expression /{body}/ matches an empty word")
            return ("rx", body)
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
        kind = "stem" if stem else "word"
        return (kind, folded, exact)


def _min_words(node: tuple) -> int:
    kind = node[0]
    if kind in ("word", "stem"):
        return len(node[1].split(" "))
    if kind == "rx":
        return 1
    if kind == "seq":
        return sum(_min_words(x) for x in node[1])
    if kind == "choice":
        return 0 if node[2] else min(_min_words(s) for s in node[1])
    if kind == "gap":
        return 0
    raise AssertionError(kind)


def _edge_gap(node: tuple) -> bool:
    """True when some way through ``node`` starts or ends with a gap."""
    items = node[1]
    if not items:
        return False
    for item in (items[0], items[-1]):
        if item[0] == "gap":
            return True
        if item[0] == "choice" and any(_edge_gap(sq) for sq in item[1]):
            return True
    return False


def _max_words(node: tuple) -> int:
    kind = node[0]
    if kind in ("word", "stem"):
        return len(node[1].split(" "))
    if kind == "rx":
        return 1
    if kind == "seq":
        return sum(_max_words(x) for x in node[1])
    if kind == "choice":
        return max(_max_words(s) for s in node[1])
    if kind == "gap":
        return node[1]
    raise AssertionError(kind)


def _emit(node: tuple, vocab: dict[str, set[str]], fuzzy_min: int) -> str:
    kind = node[0]
    if kind == "word":
        w, exact = node[1], node[2]
        vocab["exact"].add(w)
        if not exact and " " not in w and len(w) >= fuzzy_min:
            vocab["words"].add(w)
        return re.escape(w) + " "
    if kind == "stem":
        w, exact = node[1], node[2]
        vocab["exact_stems"].add(w)
        if not exact and " " not in w and len(w) >= fuzzy_min:
            vocab["stems"].add(w)
        return re.escape(w) + "[^ ]* "
    if kind == "rx":
        return "(?:" + node[1] + ") "
    if kind == "seq":
        return "".join(_emit(x, vocab, fuzzy_min) for x in node[1])
    if kind == "choice":
        body = "(?:" + "|".join(_emit(s, vocab, fuzzy_min) for s in node[1]) + ")"
        return body + "?" if node[2] else body
    if kind == "gap":
        return "(?:[^ ]+ ){0,%d}" % node[1]
    raise AssertionError(kind)


def parse_group(source: str, groups: Mapping[str, tuple] | None = None) -> tuple:
    """Parse the text of a ``[groups]`` entry: alternative phrases separated by
    ``|`` (as inside brackets).  Returns the parsed node for :func:`parse_pattern`."""
    if not isinstance(source, str):
        raise PatternError(f"a group must be a string, not {type(source).__name__}")
    if not source.strip():
        raise PatternError("empty group")
    parser = _Parser("(" + source.strip() + ")", groups)
    node = parser.parse()
    choice = node[1][0]
    if len(node[1]) != 1 or choice[0] != "choice":  # pragma: no cover - defensive
        raise PatternError("a group is a list of alternatives separated by '|'")
    if _min_words(choice) == 0:
        raise PatternError("a group cannot be empty")
    return choice


def parse_pattern(
    source: str,
    fuzzy_min_length: int = DEFAULT_FUZZY_MIN,
    groups: Mapping[str, tuple] | None = None,
) -> Phrase:
    """Compile one pattern of the playbook syntax; raise :class:`PatternError`.

    Syntax (words are folded like transcripts: case, accents and punctuation
    do not matter, ``don't`` = ``dont``):

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
    """
    if not isinstance(source, str):
        raise PatternError(f"a pattern must be a string, not {type(source).__name__}")
    src = source.strip()
    if not src:
        raise PatternError("empty pattern")
    if src.startswith("re:"):
        body = src[3:].strip()
        if not body:
            raise PatternError("empty regular expression after 're:'")
        try:
            compiled = re.compile(body)
        except re.error as exc:
            raise PatternError(f"bad regular expression {body!r}: {exc}") from None
        if compiled.groups:
            raise PatternError(
                f"regular expression {body!r} has a capturing group; use (?:...) instead"
            )
        if compiled.search("") is not None or compiled.fullmatch(" ") is not None:
            raise PatternError(f"regular expression {body!r} can match nothing")
        return Phrase(source=source, regex="(?:" + body + ")", min_words=1, max_words=None)
    node = _Parser(src, groups).parse()
    items = node[1]
    if not items:
        raise PatternError("empty pattern")
    if _edge_gap(node):
        raise PatternError("a pattern cannot start or end with a gap '..'")
    if _min_words(node) == 0:
        raise PatternError("every part of the pattern is optional; it would match anything")
    vocab: dict[str, set[str]] = {"words": set(), "stems": set(), "exact": set(), "exact_stems": set()}
    regex = _emit(node, vocab, fuzzy_min_length)
    try:
        re.compile(regex)
    except re.error as exc:  # pragma: no cover - parts were checked one by one
        raise PatternError(f"cannot compile: {exc}") from None
    return Phrase(
        source=source,
        regex=regex,
        words=frozenset(vocab["words"]),
        stems=frozenset(vocab["stems"]),
        exact=frozenset(vocab["exact"]),
        exact_stems=frozenset(vocab["exact_stems"]),
        min_words=_min_words(node),
        max_words=_max_words(node),
    )


# --------------------------------------------------------------------------
# Playbook data
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Negation:
    categories: frozenset[str] = frozenset()
    cues: tuple[Phrase, ...] = ()
    bridges: tuple[Phrase, ...] = ()
    conditions: tuple[Phrase, ...] = ()
    window: int = 5


@dataclass(frozen=True)
class Exceptions:
    after: tuple[Phrase, ...] = ()
    before: tuple[Phrase, ...] = ()
    window: int = 6


@dataclass(frozen=True)
class Prompt:
    id: str
    kind: str
    title: str
    body: str
    when: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "body": self.body,
                "when": list(self.when)}


@dataclass(frozen=True)
class Playbook:
    language: str
    path: Path
    name: str = ""
    fuzzy_min_length: int = DEFAULT_FUZZY_MIN
    fuzzy_ignore: frozenset[str] = frozenset()
    patterns: tuple[Pattern, ...] = ()
    negation: Negation = field(default_factory=Negation)
    exceptions: Mapping[str, Exceptions] = field(default_factory=dict)
    prompts: tuple[Prompt, ...] = ()

    def patterns_for(self, category: str) -> tuple[Pattern, ...]:
        return tuple(p for p in self.patterns if p.category == category)

    def prompt(self, prompt_id: str) -> Prompt:
        for p in self.prompts:
            if p.id == prompt_id:
                return p
        raise KeyError(f"{self.path}: no prompt with id {prompt_id!r}")

    def prompts_of_kind(self, kind: str) -> tuple[Prompt, ...]:
        return tuple(p for p in self.prompts if p.kind == kind)

    def prompts_for(self, cue: str) -> tuple[Prompt, ...]:
        """Prompts whose ``when`` lists ``cue`` (a category or an acoustic cue)."""
        return tuple(p for p in self.prompts if cue in p.when)


class _Ctx:
    """Builds messages of the form ``FILE: PLACE: what is wrong``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, place: str, msg: str) -> CalmlineError:
        where = f"{self.path}: {place}: " if place else f"{self.path}: "
        return CalmlineError(where + msg)


def _words(text: str) -> int:
    return len(text.split())


def _str_list(ctx: _Ctx, place: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ctx.fail(place, f"expected a list of strings, got {type(value).__name__}")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise ctx.fail(f"{place}[{i}]", f"expected a string, got {type(v).__name__}")
    return value


def _phrases(
    ctx: _Ctx,
    place: str,
    value: Any,
    fuzzy_min: int,
    single_word: bool = False,
    groups: Mapping[str, tuple] | None = None,
) -> tuple[Phrase, ...]:
    out = []
    for i, src in enumerate(_str_list(ctx, place, value)):
        try:
            ph = parse_pattern(src, fuzzy_min, groups)
        except PatternError as exc:
            raise ctx.fail(f"{place}[{i}]", str(exc)) from None
        if single_word and not (ph.min_words == ph.max_words == 1):
            raise ctx.fail(
                f"{place}[{i}]",
                f"{src!r}: expected a single word (alternatives with '|' and stems are fine)",
            )
        out.append(ph)
    return tuple(out)


def _check_keys(ctx: _Ctx, place: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in table:
        if key not in allowed:
            raise ctx.fail(
                f"{place}.{key}" if place else key,
                f"unknown setting {key!r} (expected one of: {', '.join(sorted(allowed))})",
            )


def _int(ctx: _Ctx, place: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.fail(place, f"expected a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ctx.fail(place, f"must be between {lo} and {hi}, not {value}")
    return value


def _parse_groups(ctx: _Ctx, table: Any) -> dict[str, tuple]:
    if not isinstance(table, dict):
        raise ctx.fail("groups", "expected a table of name = \"alternative|alternative\"")
    groups: dict[str, tuple] = {}
    for name, src in table.items():
        place = f"groups.{name}"
        if not _GROUP_RE.match(name):
            raise ctx.fail(place, "a group name may only use letters, digits and '_'")
        try:
            groups[name] = parse_group(src, groups)
        except PatternError as exc:
            raise ctx.fail(place, str(exc)) from None
    return groups


def _parse_patterns(
    ctx: _Ctx, triggers: Any, fuzzy_min: int, groups: Mapping[str, tuple]
) -> tuple[Pattern, ...]:
    if not isinstance(triggers, dict):
        raise ctx.fail("triggers", "expected a table of categories ([triggers])")
    out: list[Pattern] = []
    for category, entries in triggers.items():
        place = f"triggers.{category}"
        if category not in CATEGORIES:
            raise ctx.fail(
                place,
                f"unknown category {category!r} (known: {', '.join(CATEGORIES)})",
            )
        if not isinstance(entries, list):
            raise ctx.fail(place, "expected a list of { id = ..., pattern = ... } entries")
        seen: dict[str, str] = {}
        for i, entry in enumerate(entries):
            here = f"{place}[{i}]"
            if not isinstance(entry, dict):
                raise ctx.fail(here, "expected { id = \"...\", pattern = \"...\" }")
            _check_keys(ctx, here, entry, ("id", "pattern", "note"))
            pid = entry.get("id")
            if not isinstance(pid, str) or not pid.strip():
                raise ctx.fail(here, "missing id (a short name such as \"sue\")")
            if pid.startswith(category + "."):
                pid = pid[len(category) + 1 :]
            if not _ID_RE.match(pid):
                raise ctx.fail(
                    here, f"id {pid!r} may only use lowercase letters, digits and '_'"
                )
            if pid in seen:
                raise ctx.fail(here, f"duplicate id {pid!r} (also at {seen[pid]})")
            seen[pid] = here
            if "pattern" not in entry:
                raise ctx.fail(here, "missing pattern")
            sources = entry["pattern"]
            many = isinstance(sources, list)
            if many and not sources:
                raise ctx.fail(here, "empty pattern list")
            for j, src in enumerate(sources if many else [sources]):
                sub = f"{here}.pattern[{j}]" if many else here
                try:
                    phrase = parse_pattern(src, fuzzy_min, groups)
                except PatternError as exc:
                    raise ctx.fail(sub, str(exc)) from None
                out.append(
                    Pattern(
                        id=f"{category}.{pid}",
                        category=category,
                        speaker=CATEGORIES[category],
                        place=sub,
                        phrase=phrase,
                    )
                )
    return tuple(out)


def _parse_prompts(ctx: _Ctx, prompts: Any) -> tuple[Prompt, ...]:
    if not isinstance(prompts, list):
        raise ctx.fail("prompts", "expected a list of [[prompts]] tables")
    out: list[Prompt] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(prompts):
        here = f"prompts[{i}]"
        if not isinstance(entry, dict):
            raise ctx.fail(here, "expected a [[prompts]] table")
        _check_keys(ctx, here, entry, ("id", "kind", "title", "body", "when"))
        for key in ("id", "kind", "title", "body"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ctx.fail(f"{here}.{key}", f"missing {key}")
        pid = entry["id"].strip()
        here = f"prompts[{i}] ({pid})"
        if not _PROMPT_ID_RE.match(pid):
            raise ctx.fail(here, f"id {pid!r} may only use lowercase letters, digits, '_' and '.'")
        if pid in seen:
            raise ctx.fail(here, f"duplicate prompt id {pid!r} (also at {seen[pid]})")
        seen[pid] = here
        kind = entry["kind"].strip()
        if kind not in PROMPT_KINDS:
            raise ctx.fail(f"{here}.kind", f"unknown kind {kind!r} (known: {', '.join(PROMPT_KINDS)})")
        title = " ".join(entry["title"].split())
        body = " ".join(entry["body"].split())
        if _words(title) > TITLE_MAX_WORDS:
            raise ctx.fail(
                f"{here}.title",
                f"title has {_words(title)} words, at most {TITLE_MAX_WORDS} allowed: {title!r}",
            )
        if _words(body) > BODY_MAX_WORDS:
            raise ctx.fail(
                f"{here}.body",
                f"body has {_words(body)} words, at most {BODY_MAX_WORDS} allowed",
            )
        when = tuple(_str_list(ctx, f"{here}.when", entry.get("when", [])))
        for j, cue in enumerate(when):
            if cue not in CUES:
                raise ctx.fail(
                    f"{here}.when[{j}]", f"unknown cue {cue!r} (known: {', '.join(CUES)})"
                )
        out.append(Prompt(id=pid, kind=kind, title=title, body=body, when=when))
    return tuple(out)


def load_playbook_file(path: str | Path, language: str | None = None) -> Playbook:
    """Load and validate one playbook file.

    ``language``, when given, must equal the file's ``language`` setting.
    """
    path = Path(path)
    ctx = _Ctx(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CalmlineError(f"{path}: playbook file not found") from None
    except OSError as exc:
        raise CalmlineError(f"{path}: cannot read playbook: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CalmlineError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalmlineError(f"{path}: invalid TOML: {exc}") from None

    _check_keys(ctx, "", data, _TOP_KEYS)
    lang = data.get("language")
    if lang is None:
        raise ctx.fail("language", f"missing language (one of {', '.join(LANGUAGES)})")
    if not isinstance(lang, str) or lang not in LANGUAGES:
        raise ctx.fail("language", f"unknown language {lang!r} (supported: {', '.join(LANGUAGES)})")
    if language is not None and lang != language:
        raise ctx.fail("language", f"says {lang!r} but the file is used for {language!r}")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ctx.fail("name", "expected a string")

    fuzzy = data.get("fuzzy", {})
    if not isinstance(fuzzy, dict):
        raise ctx.fail("fuzzy", "expected a table")
    _check_keys(ctx, "fuzzy", fuzzy, ("min_length", "ignore"))
    fuzzy_min = _int(ctx, "fuzzy.min_length", fuzzy.get("min_length", DEFAULT_FUZZY_MIN), 3, 99)
    ignore = frozenset(fold_phrase(w) for w in _str_list(ctx, "fuzzy.ignore", fuzzy.get("ignore", [])))

    if "triggers" not in data:
        raise ctx.fail("triggers", "missing [triggers] table")
    groups = _parse_groups(ctx, data.get("groups", {}))
    patterns = _parse_patterns(ctx, data["triggers"], fuzzy_min, groups)

    neg = data.get("negation", {})
    if not isinstance(neg, dict):
        raise ctx.fail("negation", "expected a table")
    _check_keys(ctx, "negation", neg, ("categories", "cues", "bridges", "conditions", "window"))
    neg_cats = _str_list(ctx, "negation.categories", neg.get("categories", []))
    for i, c in enumerate(neg_cats):
        if c not in CATEGORIES:
            raise ctx.fail(f"negation.categories[{i}]", f"unknown category {c!r} (known: {', '.join(CATEGORIES)})")
    bridges = _phrases(
        ctx, "negation.bridges", neg.get("bridges", []), 10**6, single_word=True, groups=groups
    )
    conditions = _phrases(
        ctx, "negation.conditions", neg.get("conditions", []), 10**6, single_word=True,
        groups=groups,
    )
    negation = Negation(
        categories=frozenset(neg_cats),
        cues=_phrases(ctx, "negation.cues", neg.get("cues", []), 10**6, groups=groups),
        bridges=bridges,
        conditions=conditions,
        window=_int(ctx, "negation.window", neg.get("window", 5), 0, 12),
    )
    if negation.categories and not negation.cues:
        raise ctx.fail("negation.cues", "negation.categories is set but there are no cues")

    exc_table = data.get("exceptions", {})
    if not isinstance(exc_table, dict):
        raise ctx.fail("exceptions", "expected a table of categories")
    exceptions: dict[str, Exceptions] = {}
    for cat, tab in exc_table.items():
        place = f"exceptions.{cat}"
        if cat not in CATEGORIES:
            raise ctx.fail(place, f"unknown category {cat!r} (known: {', '.join(CATEGORIES)})")
        if not isinstance(tab, dict):
            raise ctx.fail(place, "expected a table with after/before/window")
        _check_keys(ctx, place, tab, ("after", "before", "window"))
        exceptions[cat] = Exceptions(
            after=_phrases(ctx, f"{place}.after", tab.get("after", []), 10**6, groups=groups),
            before=_phrases(ctx, f"{place}.before", tab.get("before", []), 10**6, groups=groups),
            window=_int(ctx, f"{place}.window", tab.get("window", 6), 0, 30),
        )

    prompts = _parse_prompts(ctx, data.get("prompts", []))

    return Playbook(
        language=lang,
        path=path,
        name=name,
        fuzzy_min_length=fuzzy_min,
        fuzzy_ignore=ignore,
        patterns=patterns,
        negation=negation,
        exceptions=exceptions,
        prompts=prompts,
    )


def bundled_dir() -> Path:
    """The directory of the playbooks that ship with calmline."""
    return Path(__file__).resolve().parent / "playbooks"


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise CalmlineError(
            f"unknown language {language!r} (supported: {', '.join(LANGUAGES)})"
        )
    return language


def load_playbook(language: str, directory: str | Path | None = None) -> Playbook:
    """The playbook for ``language``.

    With ``directory`` (a user's ``--playbook DIR``), ``DIR/<language>.toml`` is
    used when it exists; otherwise the bundled file for that language.  A
    ``directory`` that does not exist is an error (a typo should not silently
    fall back).
    """
    _check_language(language)
    if directory is not None:
        d = Path(directory)
        if not d.is_dir():
            raise CalmlineError(f"{d}: playbook directory not found")
        user = d / f"{language}.toml"
        if user.is_file():
            return load_playbook_file(user, language)
    return load_playbook_file(bundled_dir() / f"{language}.toml", language)


def load_playbooks(
    directory: str | Path | None = None, languages: Iterable[str] = LANGUAGES
) -> dict[str, Playbook]:
    """Every language's playbook (user directory first, bundled as fallback)."""
    return {lang: load_playbook(lang, directory) for lang in languages}
