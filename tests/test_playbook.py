"""The playbook files: bundled content, the pattern syntax, and load-time validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.errors import CalmlineError
from monitor.coaching.pattern_parser import PatternError, parse_pattern
from monitor.coaching.playbook import bundled_dir, load_playbook, load_playbook_file, load_playbooks
from monitor.coaching.playbook_schema import BODY_MAX_WORDS, TITLE_MAX_WORDS
from monitor.vocabulary import CATEGORIES, LANGUAGES, PROMPT_KINDS

PLAYBOOKS = load_playbooks()

# The situations the coach must have an answer for, in every language.
REQUIRED_PROMPTS = {
    "boundary.abuse": "boundary",
    "plan.legal": "plan",
    "plan.manager": "plan",
    "plan.next_steps": "plan",
    "listen.overlap": "listen",
    "empathy.acknowledge": "empathy",
    "empathy.paraphrase": "empathy",
    "technique.calm_down": "technique",
    "technique.deflect": "technique",
    "technique.blame": "technique",
    "technique.dont_know": "technique",
    "breathe.hold": "breathe",
    "breathe.after_call": "breathe",
    "de_escalate.raised_voice": "de_escalate",
    "de_escalate.repeat_contact": "de_escalate",
    "de_escalate.churn": "de_escalate",
}


# --- bundled playbooks ----------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_bundled_playbook_loads_with_every_category(lang):
    pb = PLAYBOOKS[lang]
    assert pb.language == lang
    assert pb.path == bundled_dir() / f"{lang}.toml"
    for category in CATEGORIES:
        assert pb.patterns_for(category), f"{lang}: no patterns for {category}"
    assert pb.negation.categories, "negation must be configured"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_prompt_title_and_body_is_short(lang):
    for p in PLAYBOOKS[lang].prompts:
        assert 1 <= len(p.title.split()) <= TITLE_MAX_WORDS, (lang, p.id, p.title)
        assert 1 <= len(p.body.split()) <= BODY_MAX_WORDS, (lang, p.id, p.body)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_required_prompts_exist_with_the_right_kind(lang):
    pb = PLAYBOOKS[lang]
    for pid, kind in REQUIRED_PROMPTS.items():
        assert pb.prompt(pid).kind == kind
    assert {p.kind for p in pb.prompts} == set(PROMPT_KINDS)
    assert pb.prompts_for("after_escalation"), "a post-call recovery nudge is required"
    assert [p.id for p in pb.prompts_for("abuse") if p.kind == "boundary"]


def test_all_languages_have_the_same_prompt_ids_kinds_and_cues():
    ref = {p.id: (p.kind, p.when) for p in PLAYBOOKS["en"].prompts}
    for lang in LANGUAGES:
        assert {p.id: (p.kind, p.when) for p in PLAYBOOKS[lang].prompts} == ref, lang


def _letters(text: str, script: str) -> float:
    letters = [c for c in text if c.isalpha()]
    pat = re.compile(r"[\u0400-\u04FF]") if script == "cyrillic" else re.compile(r"[A-Za-zÀ-ž]")
    return sum(1 for c in letters if pat.match(c)) / max(1, len(letters))


@pytest.mark.parametrize("lang", ["ru", "bg"])
def test_cyrillic_prompts_are_written_in_cyrillic(lang):
    for p in PLAYBOOKS[lang].prompts:
        assert _letters(p.title + p.body, "cyrillic") > 0.95, (lang, p.id)


def test_prompts_differ_between_languages():
    en = {p.id: p.body for p in PLAYBOOKS["en"].prompts}
    ro = PLAYBOOKS["ro"].prompts
    assert all(p.body != en[p.id] for p in ro)
    assert any(c in "ăâîșț" for p in ro for c in p.body.lower())
    ru = {p.id: p.body for p in PLAYBOOKS["ru"].prompts}
    assert all(p.body != ru[p.id] for p in PLAYBOOKS["bg"].prompts)


def test_pattern_ids_used_by_the_coach_exist_in_every_language():
    for lang in LANGUAGES:
        ids = {p.id for p in PLAYBOOKS[lang].patterns}
        for pid in ("empathy.apology", "paraphrase.recap", "plan.you_will_hear",
                    "legal_threat.sue", "legal_threat.court", "abuse.insult", "abuse.profanity"):
            assert pid in ids, (lang, pid)


def test_patterns_only_for_their_speaker():
    for pb in PLAYBOOKS.values():
        for p in pb.patterns:
            assert p.speaker == CATEGORIES[p.category]
            assert p.id.startswith(p.category + ".")


# --- the pattern syntax ----------------------------------------------------------


def _rx(src: str) -> re.Pattern:
    return re.compile("(?<= )(?:" + parse_pattern(src).regex + ")")


def _hits(src: str, text: str) -> bool:
    return _rx(src).search(" " + text + " ") is not None


def test_words_are_folded_like_transcripts():
    assert _hits("Don't", "i dont know")
    assert _hits("judecată", "va dau in judecata")
    assert _hits("ещё", "еще раз")
    assert _hits("n-am", "n am idee")


def test_stems_alternatives_and_optional_parts():
    assert _hits("lawyer*", "call my lawyers")
    assert not _hits("lawyer", "call my lawyers")
    assert _hits("(want|need) to talk", "i need to talk")
    assert _hits("speak to [your|the] boss", "speak to boss")
    assert _hits("speak to [your|the] boss", "speak to your boss")
    assert _hits("speak to (your|the)? boss", "speak to the boss")
    assert not _hits("speak to [your|the] boss", "speak to my boss")
    assert _hits("sue|take you to court", "i will take you to court")


def test_gaps_limit_the_words_in_between():
    assert _hits("called ..2 times", "called you like five times") is False
    assert _hits("called ..3 times", "called you like five times")
    assert _hits("called .. times", "called five times")


def test_regex_words_and_raw_regex():
    assert _hits(r"/\d+(?:st|nd|rd|th)/ time", "the 3rd time")
    assert not _hits(r"/\d+(?:st|nd|rd|th)/ time", "the third time")
    assert _hits(r"re:\bthird time\b", "the third time")


def test_exact_words_are_not_offered_to_typo_repair():
    ph = parse_pattern("=supervisor manager*", fuzzy_min_length=7)
    assert "supervisor" not in ph.words and "supervisor" in ph.exact
    assert "manager" in ph.stems


@pytest.mark.parametrize(
    "src, message",
    [
        ("", "empty pattern"),
        ("   ", "empty pattern"),
        ("(speak to", "never closed"),
        ("speak to)", "unbalanced"),
        ("[maybe]", "every part of the pattern is optional"),
        (".. sue", "cannot start or end with a gap"),
        ("sue ..", "cannot start or end with a gap"),
        ("sue ..9 you", "gap allows 1 to 8 words"),
        ("law*yer", "'*' may only end a word"),
        ("/abc", "never closed"),
        ("/(a|b/", "bad regular expression"),
        ("/(?:a|b/ x", "bad regular expression"),
        ("/(x)/", "capturing group"),
        ("re:(", "bad regular expression"),
        ("re:x*", "can match nothing"),
        ("@boss", "unknown group @boss"),
        ("vina(ta)", "put a space before a bracket"),
        ("(a|b)c", "put a space after a closing bracket"),
        ("!!!", "no letters or digits"),
    ],
)
def test_bad_patterns_are_explained(src, message):
    with pytest.raises(PatternError, match=re.escape(message)):
        parse_pattern(src)


# --- validation of files -----------------------------------------------------------

MINIMAL = '''
language = "{lang}"

[triggers]
legal_threat = [
  {{ id = "sue", pattern = "sue|suing" }},
]

[[prompts]]
id = "boundary.abuse"
kind = "boundary"
title = "Set a calm boundary"
body = "Say you want to help and will end the call if insults go on."
'''


def write(tmp_path: Path, text: str, name: str = "en.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def expect_error(path: Path, *fragments: str, language: str | None = None) -> str:
    with pytest.raises(CalmlineError) as info:
        load_playbook_file(path, language)
    msg = str(info.value)
    assert str(path) in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    assert "\n" not in msg
    return msg


def test_a_minimal_file_loads(tmp_path):
    pb = load_playbook_file(write(tmp_path, MINIMAL.format(lang="en")))
    assert [p.id for p in pb.patterns] == ["legal_threat.sue"]
    assert pb.prompt("boundary.abuse").kind == "boundary"


def test_invalid_toml_names_the_file(tmp_path):
    expect_error(write(tmp_path, 'language = "en"\n[triggers\n'), "invalid TOML")


def test_missing_language(tmp_path):
    text = MINIMAL.format(lang="en").replace('language = "en"', "")
    expect_error(write(tmp_path, text), "language", "missing language")


def test_unknown_language(tmp_path):
    expect_error(write(tmp_path, MINIMAL.format(lang="de")), "unknown language 'de'")


def test_language_must_match_its_use(tmp_path):
    path = write(tmp_path, MINIMAL.format(lang="en"), "ru.toml")
    expect_error(path, "language", "'en'", "'ru'", language="ru")
    with pytest.raises(CalmlineError, match="ru.toml"):
        load_playbook("ru", tmp_path)


def test_unknown_category(tmp_path):
    text = MINIMAL.format(lang="en").replace("legal_threat = [", "legal_threats = [")
    expect_error(write(tmp_path, text), "triggers.legal_threats", "unknown category")


def test_empty_pattern_names_its_place(tmp_path):
    text = MINIMAL.format(lang="en").replace(
        '{ id = "sue", pattern = "sue|suing" },',
        '{ id = "a", pattern = "sue" }, { id = "b", pattern = "court" },\n'
        '  { id = "c", pattern = "lawyer" }, { id = "d", pattern = "" },',
    )
    expect_error(write(tmp_path, text), "triggers.legal_threat[3]", "empty pattern")


def test_bad_regex_names_its_place(tmp_path):
    text = MINIMAL.format(lang="en").replace('"sue|suing"', r'"re:sue(+"')
    expect_error(write(tmp_path, text), "triggers.legal_threat[0]", "bad regular expression")


def test_place_inside_a_pattern_list(tmp_path):
    text = MINIMAL.format(lang="en").replace('"sue|suing"', '["sue", "(to court"]')
    expect_error(write(tmp_path, text), "triggers.legal_threat[0].pattern[1]", "never closed")


def test_duplicate_and_bad_ids(tmp_path):
    text = MINIMAL.format(lang="en").replace(
        '{ id = "sue", pattern = "sue|suing" },',
        '{ id = "sue", pattern = "sue" }, { id = "sue", pattern = "suing" },',
    )
    expect_error(write(tmp_path, text), "triggers.legal_threat[1]", "duplicate id 'sue'")
    text = MINIMAL.format(lang="en").replace('id = "sue"', 'id = "Sue It"')
    expect_error(write(tmp_path, text), "triggers.legal_threat[0]", "may only use")
    text = MINIMAL.format(lang="en").replace('id = "sue", ', "")
    expect_error(write(tmp_path, text), "triggers.legal_threat[0]", "missing id")


def test_title_too_long(tmp_path):
    text = MINIMAL.format(lang="en").replace(
        'title = "Set a calm boundary"', 'title = "Set a very calm and clear boundary now"'
    )
    expect_error(write(tmp_path, text), "prompts[0] (boundary.abuse).title", "title has 8 words")


def test_body_over_25_words(tmp_path):
    body = " ".join(["word"] * 26)
    text = MINIMAL.format(lang="en").replace(
        'body = "Say you want to help and will end the call if insults go on."', f'body = "{body}"'
    )
    expect_error(write(tmp_path, text), "prompts[0] (boundary.abuse).body", "26 words", "at most 25")


def test_unknown_prompt_kind_and_cue(tmp_path):
    text = MINIMAL.format(lang="en").replace('kind = "boundary"', 'kind = "scold"')
    expect_error(write(tmp_path, text), "prompts[0] (boundary.abuse).kind", "unknown kind 'scold'")
    text = MINIMAL.format(lang="en") + 'when = ["shouting"]\n'
    expect_error(write(tmp_path, text), "prompts[0] (boundary.abuse).when[0]", "unknown cue")


def test_missing_prompt_field(tmp_path):
    text = MINIMAL.format(lang="en").replace('title = "Set a calm boundary"\n', "")
    expect_error(write(tmp_path, text), "prompts[0].title", "missing title")


def test_misspelt_setting(tmp_path):
    text = MINIMAL.format(lang="en").replace("[triggers]", "[trigers]")
    expect_error(write(tmp_path, text), "trigers", "unknown setting")


def test_groups_and_their_errors(tmp_path):
    ok = MINIMAL.format(lang="en").replace(
        "[triggers]", '[groups]\nboss = "manager|supervisor"\n\n[triggers]'
    ).replace('"sue|suing"', '"speak to @boss"')
    pb = load_playbook_file(write(tmp_path, ok))
    assert pb.patterns[0].phrase.min_words == 3
    bad = ok.replace("speak to @boss", "speak to @bos")
    expect_error(write(tmp_path, bad), "triggers.legal_threat[0]", "unknown group @bos")
    bad = ok.replace('boss = "manager|supervisor"', 'boss = "manager|(supervisor"')
    expect_error(write(tmp_path, bad), "groups.boss", "never closed")


def test_negation_and_exception_settings_are_checked(tmp_path):
    base = MINIMAL.format(lang="en")
    bad = base + '\n[negation]\ncategories = ["legal_threat"]\ncues = ["not"]\nbridges = ["going to"]\n'
    expect_error(write(tmp_path, bad), "negation.bridges[0]", "single word")
    bad = base + '\n[negation]\ncategories = ["legal"]\ncues = ["not"]\n'
    expect_error(write(tmp_path, bad), "negation.categories[0]", "unknown category")
    bad = base + '\n[negation]\ncategories = ["legal_threat"]\n'
    expect_error(write(tmp_path, bad), "negation.cues", "no cues")
    bad = base + '\n[exceptions.legal]\nafter = ["yet"]\n'
    expect_error(write(tmp_path, bad), "exceptions.legal", "unknown category")
    bad = base + '\n[exceptions.legal_threat]\nafter = ["(yet"]\n'
    expect_error(write(tmp_path, bad), "exceptions.legal_threat.after[0]", "never closed")
    bad = base + '\n[exceptions.legal_threat]\nwindow = -1\n'
    expect_error(write(tmp_path, bad), "exceptions.legal_threat.window", "between")


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "en.toml"
    path.write_bytes(b'language = "en"\nname = "\xff"\n')
    expect_error(path, "not UTF-8")
    with pytest.raises(CalmlineError, match="not found"):
        load_playbook_file(tmp_path / "nope.toml")


# --- user playbook folders ------------------------------------------------------------


def test_user_folder_overrides_per_language_and_falls_back(tmp_path):
    write(tmp_path, MINIMAL.format(lang="en"), "en.toml")
    assert load_playbook("en", tmp_path).path == tmp_path / "en.toml"
    assert load_playbook("ru", tmp_path).path == bundled_dir() / "ru.toml"
    assert set(load_playbooks(tmp_path)) == set(LANGUAGES)


def test_missing_user_folder_and_unknown_language(tmp_path):
    with pytest.raises(CalmlineError, match="playbook directory not found"):
        load_playbook("en", tmp_path / "missing")
    with pytest.raises(CalmlineError, match="unknown language 'xx'"):
        load_playbook("xx")


def test_a_copied_bundled_file_is_a_valid_user_playbook(tmp_path):
    src = bundled_dir() / "bg.toml"
    (tmp_path / "bg.toml").write_bytes(src.read_bytes())
    pb = load_playbook("bg", tmp_path)
    assert pb.path == tmp_path / "bg.toml"
    assert len(pb.patterns) == len(PLAYBOOKS["bg"].patterns)


# --- the pattern language as nodes ------------------------------------------------------------


def test_patterns_parse_into_small_frozen_nodes():
    from dataclasses import FrozenInstanceError

    from monitor.coaching.pattern_parser import parse
    from monitor.coaching.patterns import Alt, Gap, Optional, Regex, Seq, Stem, Word

    node = parse(r"speak to [your|the] =boss* ..2 /\d+/")
    assert node == Seq((
        Word("speak"), Word("to"),
        Optional(Alt((Seq((Word("your"),)), Seq((Word("the"),))))),
        Stem("boss", exact=True), Gap(2), Regex(r"\d+"),
    ))
    with pytest.raises(FrozenInstanceError):
        node.items[0].text = "shout"          # type: ignore[misc]
    assert parse("sue|court") == Seq((Alt((Seq((Word("sue"),)), Seq((Word("court"),)))),))


def test_a_regex_that_only_breaks_inside_the_matcher_is_refused_at_load(tmp_path):
    # global flags compile alone but not inside the combined pattern: the matcher is
    # built on the first words of a call, so this must be caught when the file loads
    with pytest.raises(PatternError, match="cannot be part of a pattern"):
        parse_pattern("re:(?i)sue")
    with pytest.raises(PatternError, match="cannot be part of a pattern"):
        parse_pattern("/(?i)sue/ you")
    text = MINIMAL.format(lang="en").replace('"sue|suing"', '"re:(?i)sue"')
    expect_error(write(tmp_path, text), "triggers.legal_threat[0]", "(?i)sue", "cannot be part")


def test_loading_compiles_only_the_regular_expressions_people_wrote(monkeypatch):
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    path = bundled_dir() / "en.toml"
    written: list[str] = []

    def strings(value):
        if isinstance(value, str):
            written.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                strings(v)
        elif isinstance(value, list):
            for v in value:
                strings(v)

    strings(tomllib.loads(path.read_text(encoding="utf-8")))
    compiled: list[str] = []
    real = re.compile

    def counting(pattern, flags=0):
        compiled.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(re, "compile", counting)
    pb = load_playbook_file(path)
    monkeypatch.undo()
    assert len(pb.patterns) > 250
    assert 0 < len(compiled) < 100           # was one compile per pattern and more

    def user_written(rx: str) -> bool:
        body = rx[3:-1] if rx.startswith("(?:") and rx.endswith(")") else rx
        return any(body in s for s in written)

    assert all(user_written(rx) for rx in compiled), [rx for rx in compiled if not user_written(rx)]


# --- the schema ---------------------------------------------------------------------------------


def test_settings_are_typed_and_ranged_by_the_schema(tmp_path):
    base = MINIMAL.format(lang="en")
    cases = [
        (base.replace("[triggers]", 'name = 5\n[triggers]'), "name", "expected a string"),
        (base.replace("[triggers]", "[fuzzy]\nmin_length = true\n[triggers]"),
         "fuzzy.min_length", "expected a whole number, got True"),
        (base.replace("[triggers]", "[fuzzy]\nmin_length = 100\n[triggers]"),
         "fuzzy.min_length", "must be between 3 and 99, not 100"),
        (base.replace("[triggers]", '[fuzzy]\nignore = ["x", 3]\n[triggers]'),
         "fuzzy.ignore[1]", "expected a string, got int"),
        (base + '\n[negation]\ncategories = ["legal_threat"]\ncues = ["not"]\nwindow = 13\n',
         "negation.window", "must be between 0 and 12, not 13"),
        (base + '\n[negation]\nwindows = 3\n', "negation.windows", "unknown setting 'windows'"),
        (base.replace('{ id = "sue", pattern = "sue|suing" },', '"sue",'),
         "triggers.legal_threat[0]", 'expected { id = "...", pattern = "..." }'),
        (base.replace('"sue|suing"', "[]"), "triggers.legal_threat[0]", "empty pattern list"),
        (base.replace('"sue|suing"', '["sue", 3]'), "triggers.legal_threat[0].pattern[1]",
         "a pattern must be a string, not int"),
        (base.replace('pattern = "sue|suing"', 'pattern = "sue", colour = 1'),
         "triggers.legal_threat[0].colour", "expected one of: id, note, pattern"),
        (base + 'when = "abuse"\nextra = 1\n', "prompts[0].extra", "unknown setting 'extra'"),
        (base.replace('id = "boundary.abuse"', 'id = "Boundary"'), "prompts[0] (Boundary).id",
         "may only use lowercase"),
    ]
    for text, place, problem in cases:
        expect_error(write(tmp_path, text), f": {place}: ", problem)


def test_a_single_cue_may_be_written_without_a_list(tmp_path):
    text = MINIMAL.format(lang="en") + 'when = "abuse"\n'
    assert load_playbook_file(write(tmp_path, text)).prompt("boundary.abuse").when == ("abuse",)


# --- once per process ---------------------------------------------------------------------------


def test_a_playbook_is_loaded_once_until_its_file_changes(tmp_path):
    import os

    path = write(tmp_path, MINIMAL.format(lang="en"))
    first = load_playbook("en", tmp_path)
    assert load_playbook("en", tmp_path) is first
    assert load_playbook("en") is load_playbook("en")          # the bundled one too
    path.write_text(MINIMAL.format(lang="en").replace("sue|suing", "sue|suing|sued"),
                    encoding="utf-8")
    os.utime(path, ns=(1, 1))                                  # a different stamp, whatever the clock
    second = load_playbook("en", tmp_path)
    assert second is not first and second.patterns[0].phrase.source == "sue|suing|sued"
    path.write_text("language = \"en\"\n", encoding="utf-8")
    with pytest.raises(CalmlineError, match="missing"):
        load_playbook("en", tmp_path)                         # a broken edit is still reported
