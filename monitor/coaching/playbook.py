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

Pattern syntax (:mod:`monitor.coaching.pattern_parser`): words are matched on folded text
(:mod:`monitor.coaching.textnorm`), in order, one after the other; ``word*`` is a stem
(any ending), ``a b|c d`` alternative phrases (``|`` reaches up to the nearest
bracket, as in regular expressions: ``(want|need) to``), ``[ ... ]`` an
optional part, ``..`` / ``..N`` a gap of up to 3 / N
words, ``=word`` a word that must not be typo-corrected, ``/regex/`` one word
given as a regular expression, and a whole pattern starting with ``re:`` a raw
regular expression on the folded text.

Everything is checked when the file is loaded (the tables by the schema in
:mod:`monitor.coaching.playbook_schema`, the patterns by their parser); a
mistake raises :class:`~monitor.errors.CalmlineError` naming the file, the place
(``triggers.legal_threat[3]``) and what is wrong.  Loading compiles no trigger
pattern: the matcher does, on first use (:func:`monitor.coaching.triggers.matcher_for`).
A loaded file is kept for the process and loaded again only when it changes
on disk, so every call of a long-running process shares one playbook and one
compiled matcher per language.
"""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from monitor.coaching.pattern_parser import PatternError, parse_group, parse_pattern
from monitor.coaching.patterns import DEFAULT_FUZZY_MIN, Alt, Phrase
from monitor.coaching.playbook_schema import (ExceptionsTable, NegationTable, PlaybookFile,
                                              Prompt, TriggerEntry, validate_playbook)
from monitor.coaching.textnorm import fold_phrase
from monitor.errors import CalmlineError
from monitor.vocabulary import CATEGORIES, LANGUAGES

__all__ = [
    "Pattern",
    "Negation",
    "Exceptions",
    "Prompt",
    "Playbook",
    "bundled_dir",
    "load_playbook_file",
    "load_playbook",
    "load_playbooks",
]

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
#: negation and exception phrases are never typo-corrected to
_NO_FUZZY = 10**6


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
class Playbook:
    language: str
    path: Path
    name: str = ""
    fuzzy_min_length: int = DEFAULT_FUZZY_MIN
    fuzzy_ignore: frozenset[str] = frozenset()
    patterns: tuple[Pattern, ...] = ()
    negation: Negation = field(default_factory=Negation)
    exceptions: Mapping[str, Exceptions] = field(default_factory=lambda: MappingProxyType({}))
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


# --- from the checked tables to the playbook -------------------------------------------------
class _Builder:
    """Parses the patterns of a checked file; messages ``FILE: PLACE: what is wrong``."""

    def __init__(self, path: Path, spec: PlaybookFile) -> None:
        self.path = path
        self.spec = spec
        self.groups: dict[str, Alt] = {}
        self.ids: dict[str, dict[str, str]] = {}      # category -> id -> where it is

    def fail(self, place: str, msg: str) -> CalmlineError:
        return CalmlineError(f"{self.path}: {place}: {msg}")

    def build(self) -> Playbook:
        spec = self.spec
        for name, src in spec.groups.items():
            try:
                self.groups[name] = parse_group(src, self.groups)
            except PatternError as exc:
                raise self.fail(f"groups.{name}", str(exc)) from None
        patterns: list[Pattern] = []
        for category, entries in spec.triggers.items():
            for i, entry in enumerate(entries):
                patterns += self.trigger(category, i, entry, self.trigger_id(category, i, entry))
        negation = self.negation(spec.negation)
        exceptions = {cat: self.exceptions(f"exceptions.{cat}", table)
                      for cat, table in spec.exceptions.items()}
        self.check_prompt_ids()
        return Playbook(
            language=spec.language,
            path=self.path,
            name=spec.name,
            fuzzy_min_length=spec.fuzzy.min_length,
            fuzzy_ignore=frozenset(fold_phrase(w) for w in spec.fuzzy.ignore),
            patterns=tuple(patterns),
            negation=negation,
            exceptions=MappingProxyType(exceptions),
            prompts=spec.prompts,
        )

    def trigger_id(self, category: str, i: int, entry: TriggerEntry) -> str:
        """The entry's id without its category, checked and unique within the category."""
        here = f"triggers.{category}[{i}]"
        pid = entry.id
        if pid.startswith(category + "."):
            pid = pid[len(category) + 1 :]
        if not _ID_RE.match(pid):
            raise self.fail(here, f"id {pid!r} may only use lowercase letters, digits and '_'")
        seen = self.ids.setdefault(category, {})
        if pid in seen:
            raise self.fail(here, f"duplicate id {pid!r} (also at {seen[pid]})")
        seen[pid] = here
        return pid

    def trigger(self, category: str, i: int, entry: TriggerEntry, pid: str) -> list[Pattern]:
        here = f"triggers.{category}[{i}]"
        many = isinstance(entry.pattern, tuple)
        out = []
        for j, src in enumerate(entry.pattern if many else (entry.pattern,)):
            place = f"{here}.pattern[{j}]" if many else here
            phrase = self.phrase(place, src, self.spec.fuzzy.min_length)
            out.append(Pattern(id=f"{category}.{pid}", category=category,
                               speaker=CATEGORIES[category], place=place, phrase=phrase))
        return out

    def phrase(self, place: str, src: Any, fuzzy_min: int = _NO_FUZZY) -> Phrase:
        try:
            return parse_pattern(src, fuzzy_min, self.groups)
        except PatternError as exc:
            raise self.fail(place, str(exc)) from None

    def phrases(self, place: str, sources: Iterable[str],
                single_word: bool = False) -> tuple[Phrase, ...]:
        out = []
        for i, src in enumerate(sources):
            ph = self.phrase(f"{place}[{i}]", src)
            if single_word and not (ph.min_words == ph.max_words == 1):
                raise self.fail(f"{place}[{i}]", f"{src!r}: expected a single word "
                                "(alternatives with '|' and stems are fine)")
            out.append(ph)
        return tuple(out)

    def negation(self, table: NegationTable) -> Negation:
        bridges = self.phrases("negation.bridges", table.bridges, single_word=True)
        conditions = self.phrases("negation.conditions", table.conditions, single_word=True)
        cues = self.phrases("negation.cues", table.cues)
        if table.categories and not cues:
            raise self.fail("negation.cues", "negation.categories is set but there are no cues")
        return Negation(categories=frozenset(table.categories), cues=cues, bridges=bridges,
                        conditions=conditions, window=table.window)

    def exceptions(self, place: str, table: ExceptionsTable) -> Exceptions:
        return Exceptions(after=self.phrases(f"{place}.after", table.after),
                          before=self.phrases(f"{place}.before", table.before),
                          window=table.window)

    def check_prompt_ids(self) -> None:
        seen: dict[str, str] = {}
        for i, prompt in enumerate(self.spec.prompts):
            here = f"prompts[{i}] ({prompt.id})"
            if prompt.id in seen:
                raise self.fail(here, f"duplicate prompt id {prompt.id!r} (also at {seen[prompt.id]})")
            seen[prompt.id] = here


# --- loading ----------------------------------------------------------------------------------
def load_playbook_file(path: str | Path, language: str | None = None) -> Playbook:
    """Load and validate one playbook file.

    ``language``, when given, must equal the file's ``language`` setting.
    """
    path = Path(path)
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
    return _Builder(path, validate_playbook(data, path, language)).build()


def bundled_dir() -> Path:
    """The directory of the playbooks that ship with calmline."""
    return Path(__file__).resolve().parent / "playbooks"


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise CalmlineError(
            f"unknown language {language!r} (supported: {', '.join(LANGUAGES)})"
        )
    return language


_loaded: dict[tuple[str, str, str], tuple[tuple[int, ...], Playbook]] = {}
_loaded_lock = threading.Lock()


def _load_once(path: Path, language: str) -> Playbook:
    """The playbook in ``path``, loaded again only when the file changed on disk."""
    try:
        st = path.stat()
    except OSError:
        return load_playbook_file(path, language)     # says what is wrong with it
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
    key = (str(path.absolute()), str(path), language)
    with _loaded_lock:
        hit = _loaded.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    playbook = load_playbook_file(path, language)
    with _loaded_lock:
        _loaded[key] = (stamp, playbook)
    return playbook


def load_playbook(language: str, directory: str | Path | None = None) -> Playbook:
    """The playbook for ``language``.

    With ``directory`` (a user's ``--playbook DIR``), ``DIR/<language>.toml`` is
    used when it exists; otherwise the bundled file for that language.  A
    ``directory`` that does not exist is an error (a typo should not silently
    fall back).  Loaded once per process while the file stays the same.
    """
    _check_language(language)
    if directory is not None:
        d = Path(directory)
        if not d.is_dir():
            raise CalmlineError(f"{d}: playbook directory not found")
        user = d / f"{language}.toml"
        if user.is_file():
            return _load_once(user, language)
    return _load_once(bundled_dir() / f"{language}.toml", language)


def load_playbooks(
    directory: str | Path | None = None, languages: Iterable[str] = LANGUAGES
) -> dict[str, Playbook]:
    """Every language's playbook (user directory first, bundled as fallback)."""
    return {lang: load_playbook(lang, directory) for lang in languages}
