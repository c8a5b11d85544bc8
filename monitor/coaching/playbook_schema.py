"""What a playbook file may say: its TOML tables as pydantic models.

Every table refuses settings it does not know (``extra="forbid"``), ranges are
declared once on their fields, and the names a file may use (languages,
categories, prompt kinds, cues) come from :mod:`monitor.vocabulary`.  The first
mistake becomes one line, ``FILE: PLACE: what is wrong``, with the place
written the way the file is (``triggers.legal_threat[3]``,
``prompts[2] (plan.legal).title``).

This module checks the shape of the file; the pattern language itself is
checked when the patterns are parsed (:mod:`monitor.coaching.pattern_parser`, called
by :mod:`monitor.coaching.playbook`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Mapping, Union, get_args, get_origin

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr,
                      ValidationError, ValidationInfo, model_validator)
from pydantic_core import PydanticCustomError

from monitor.coaching.patterns import DEFAULT_FUZZY_MIN
from monitor.errors import CalmlineError
from monitor.vocabulary import CATEGORIES, CUES, LANGUAGES, PROMPT_KINDS

__all__ = ["TITLE_MAX_WORDS", "BODY_MAX_WORDS", "PlaybookFile", "Prompt", "TriggerEntry",
           "validate_playbook"]

TITLE_MAX_WORDS = 6
BODY_MAX_WORDS = 25

_PROMPT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.]*$")
_GROUP_RE = re.compile(r"^[A-Za-z0-9_]+$")
_TRIGGER_ID = 'id (a short name such as "sue")'
#: error types whose place does not carry a prompt's id: the id may be what is wrong
_UNLABELLED = ("missing", "blank", "extra_forbidden")


def _problem(message: str, kind: str = "playbook") -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


def _known(values: Any) -> str:
    return ", ".join(values)


# --- shapes -------------------------------------------------------------------------------------
def _strings(value: Any) -> Any:
    """A list of strings; a single string is a list of one."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise _problem(f"expected a list of strings, got {type(value).__name__}")
    return value


def _expect(kind: type, what: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise _problem(f"expected {what}")
        return value
    return BeforeValidator(check)


def _text(name: str) -> BeforeValidator:
    """A string with something in it, or the field counts as missing."""
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise _problem(f"missing {name}", "blank")
        return value
    return BeforeValidator(check)


def _one_of(what: str, allowed: Any, known: str = "known") -> AfterValidator:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise _problem(f"unknown {what} {value!r} ({known}: {_known(allowed)})")
        return value
    return AfterValidator(check)


def _words_at_most(name: str, most: int, quote: bool) -> AfterValidator:
    def check(value: str) -> str:
        text = " ".join(value.split())
        n = len(text.split())
        if n > most:
            tail = f": {text!r}" if quote else ""
            raise _problem(f"{name} has {n} words, at most {most} allowed{tail}", "too_long")
        return text
    return AfterValidator(check)


def _pattern_sources(value: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise _problem("empty pattern list")
        return tuple(value)
    if not isinstance(value, str):
        raise _problem(f"a pattern must be a string, not {type(value).__name__}")
    return value


def _group_name(name: str) -> str:
    if not _GROUP_RE.match(name):
        raise _problem("a group name may only use letters, digits and '_'")
    return name


def _prompt_id(value: str) -> str:
    pid = value.strip()
    if not _PROMPT_ID_RE.match(pid):
        raise _problem(f"id {pid!r} may only use lowercase letters, digits, '_' and '.'")
    return pid


Strings = Annotated[tuple[StrictStr, ...], BeforeValidator(_strings)]
Category = Annotated[StrictStr, _one_of("category", CATEGORIES)]
Categories = Annotated[tuple[Category, ...], BeforeValidator(_strings)]
Cue = Annotated[StrictStr, _one_of("cue", CUES)]
PromptKind = Annotated[str, _text("kind"), AfterValidator(str.strip),
                       _one_of("kind", PROMPT_KINDS)]


# --- tables ------------------------------------------------------------------------------------
class _Table(BaseModel):
    """A TOML table: unknown settings refused, nothing changes after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: what the table is, for "expected ..." when the file has something else there
    expect: ClassVar[str] = "a table"
    #: fields whose problems are reported at the table's own place
    quiet_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _is_table(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise _problem(f"expected {cls.expect}")
        return data


class Fuzzy(_Table):
    """Tolerance for ASR typos: words this long may have one typo."""

    min_length: int = Field(DEFAULT_FUZZY_MIN, strict=True, ge=3, le=99)
    ignore: Strings = ()


class NegationTable(_Table):
    categories: Categories = ()
    cues: Strings = ()
    bridges: Strings = ()
    conditions: Strings = ()
    window: int = Field(5, strict=True, ge=0, le=12)


class ExceptionsTable(_Table):
    expect: ClassVar[str] = "a table with after/before/window"
    after: Strings = ()
    before: Strings = ()
    window: int = Field(6, strict=True, ge=0, le=30)


class TriggerEntry(_Table):
    expect: ClassVar[str] = '{ id = "...", pattern = "..." }'
    quiet_fields: ClassVar[tuple[str, ...]] = ("id", "pattern")
    id: Annotated[str, _text(_TRIGGER_ID)] = Field(description=_TRIGGER_ID)
    pattern: Annotated[Union[str, tuple[Any, ...]], BeforeValidator(_pattern_sources)]
    note: Any = None


class Prompt(_Table):
    """A prompt text shown to the operator."""

    expect: ClassVar[str] = "a [[prompts]] table"
    id: Annotated[str, _text("id"), AfterValidator(_prompt_id)]
    kind: PromptKind
    title: Annotated[str, _text("title"), _words_at_most("title", TITLE_MAX_WORDS, True)]
    body: Annotated[str, _text("body"), _words_at_most("body", BODY_MAX_WORDS, False)]
    when: Annotated[tuple[Cue, ...], BeforeValidator(_strings)] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "body": self.body,
                "when": list(self.when)}


def _language(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or value not in LANGUAGES:
        raise _problem(f"unknown language {value!r} (supported: {_known(LANGUAGES)})")
    wanted = (info.context or {}).get("language")
    if wanted is not None and value != wanted:
        raise _problem(f"says {value!r} but the file is used for {wanted!r}")
    return value


class PlaybookFile(_Table):
    """One playbook file, as written."""

    language: Annotated[Any, AfterValidator(_language)] = Field(
        description=f"language (one of {_known(LANGUAGES)})")
    name: str = Field("", strict=True)
    fuzzy: Fuzzy = Fuzzy()
    groups: Annotated[dict[Annotated[str, AfterValidator(_group_name)], Any],
                      _expect(dict, 'a table of name = "alternative|alternative"')] = {}
    triggers: Annotated[
        dict[Category, Annotated[tuple[TriggerEntry, ...],
                                 _expect(list, "a list of { id = ..., pattern = ... } entries")]],
        _expect(dict, "a table of categories ([triggers])"),
    ] = Field(description="[triggers] table")
    negation: NegationTable = NegationTable()
    exceptions: Annotated[dict[Category, ExceptionsTable],
                          _expect(dict, "a table of categories")] = {}
    prompts: Annotated[tuple[Prompt, ...], _expect(list, "a list of [[prompts]] tables")] = ()


# --- from pydantic's errors to one line ---------------------------------------------------------
def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _step(tp: Any, key: Any) -> Any:
    """The declared type one step down (a field, a dict value, a list item)."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(key)
        return field.annotation if field is not None else None
    origin = get_origin(tp)
    if origin is dict:
        return get_args(tp)[1]
    if origin in (list, tuple):
        return get_args(tp)[0]
    return None


def _walk(error: Mapping[str, Any], raw: Any) -> tuple[str, Any, Any]:
    """(place, declared type of the parent, the key) for one pydantic error."""
    loc, kind = error["loc"], error["type"]
    place, node, tp, parent, key = "", raw, PlaybookFile, None, None
    for n, step in enumerate(loc):
        last = n == len(loc) - 1
        model = _unwrap(tp)
        if isinstance(node, dict) and (step in node or (last and kind == "missing")):
            if not (isinstance(model, type) and step in getattr(model, "quiet_fields", ())):
                place += f".{step}" if place else str(step)
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int):
            place += f"[{step}]"
            node = node[step] if step < len(node) else None
            if _unwrap(_step(tp, step)) is Prompt and kind not in _UNLABELLED \
                    and isinstance(node, dict) and isinstance(node.get("id"), str) \
                    and node["id"].strip():
                place += f" ({node['id'].strip()})"
        else:
            continue            # a union member's tag or pydantic's '[key]'
        parent, key, tp = tp, step, _step(tp, step)
    return place, parent, key


def _range(model: Any, name: Any, value: Any) -> str:
    """The field's declared range, in words."""
    field = _unwrap(model).model_fields[name]
    lo = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
    hi = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
    if lo is not None and hi is not None:
        return f"must be between {lo} and {hi}, not {value}"
    return f"must be at least {lo}, not {value}" if lo is not None else \
        f"must be at most {hi}, not {value}"


def _message(error: Mapping[str, Any], parent: Any, key: Any) -> str:
    kind, value = error["type"], error.get("input")
    if kind in ("playbook", "blank", "too_long"):
        return error["ctx"]["message"]
    if kind == "missing":
        field = _unwrap(parent).model_fields[key]
        return f"missing {field.description or key}"
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(_unwrap(parent).model_fields))
        return f"unknown setting {key!r} (expected one of: {allowed})"
    if kind == "int_type":
        return f"expected a whole number, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return _range(parent, key, value)
    if kind == "string_type":
        return f"expected a string, got {type(value).__name__}"
    return error["msg"]          # pragma: no cover - every shape above has its own words


def _first(errors: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The mistake to report: in the order of the file's tables, unknown settings first."""
    order = list(PlaybookFile.model_fields)

    def rank(item: tuple[int, Mapping[str, Any]]) -> tuple[int, int, int]:
        n, error = item
        top = error["loc"][0] if error["loc"] else ""
        return (order.index(top) if top in order else -1,
                0 if error["type"] == "extra_forbidden" else 1, n)

    return min(enumerate(errors), key=rank)[1]


def validate_playbook(data: Mapping[str, Any], path: Path,
                      language: str | None = None) -> PlaybookFile:
    """The file's tables, checked; raise :class:`CalmlineError` for the first mistake."""
    try:
        return PlaybookFile.model_validate(data, context={"language": language})
    except ValidationError as exc:
        error = _first(exc.errors(include_url=False))
    place, parent, key = _walk(error, data)
    where = f"{path}: {place}: " if place else f"{path}: "
    raise CalmlineError(where + _message(error, parent, key)) from None
