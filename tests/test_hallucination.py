"""Tests for monitor.asr.hallucination.reject_reason (pure text/score rules)."""

from __future__ import annotations

import pytest

from monitor.asr.hallucination import (
    DEFAULT_THRESHOLDS,
    KNOWN_PHRASES,
    REASONS,
    Thresholds,
    fold,
    reject_reason,
)

# Things people really say on support calls; none may be rejected on text alone,
# nor with healthy Whisper scores.
ORDINARY = [
    # en
    "Thank you for calling, how can I help?",
    "I want to speak to your manager",
    "no no no",
    "No, no, no, that's not what I said.",
    "Thanks.",
    "Thank you.",
    "Thanks for waiting, I've found your account.",
    "Yes, yes, yes, I understand.",
    "I'm sorry, I'm sorry, let me check that again.",
    "I watched the video you sent, but the router still doesn't work.",
    "Please subscribe me to the paper invoices instead of the e-mail ones, my mother cannot read e-mail.",
    "Bye.",
    "OK",
    "42",
    # ru
    "Здравствуйте, я звоню по поводу счёта за прошлый месяц.",
    "Здравствуйте, я звоню по поводу счета за прошлый месяц.",
    "Спасибо, всего доброго!",
    "Нет, нет, нет, я этого не заказывал.",
    "Продолжение следует, сказал ваш оператор, но мне так никто и не перезвонил.",
    "Я подписался на ваш канал новостей, а теперь не могу отписаться.",
    "Да, да, да.",
    # bg
    "Добър ден, обаждам се за сметката си за ток.",
    "Благодаря ви, довиждане.",
    "Не, не, не, искам да говоря с ваш ръководител.",
    "Абонаментът ми изтича този месец, искам да го подновя.",
    "Гледах видеото на сайта ви, но пак не разбирам как се плаща.",
    # ro
    "Bună ziua, vă rog să mă ajutați cu factura.",
    "Buna ziua, va rog sa ma ajutati cu factura.",
    "Vă mulțumesc, o zi bună!",
    "Vă mulţumesc pentru răbdare, am rezolvat problema.",
    "Nu, nu, nu, nu am cerut acest abonament.",
    "Am dat like la pagina voastră, dar tot nu primesc oferta.",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_utterances_pass(text):
    assert reject_reason(text) is None
    assert (
        reject_reason(text, avg_logprob=-0.3, no_speech_prob=0.05, compression_ratio=1.3, language="en")
        is None
    )


def code(reason: str | None) -> str | None:
    return None if reason is None else reason.split(":", 1)[0]


# ------------------------------------------------------------------- (5) empty


@pytest.mark.parametrize("text", ["", "   ", "...", "!?", " - ", "♪♪", "[Music]", "(аплодисменты)", "[BLANK_AUDIO]", "*music* ♪"])
def test_empty_or_annotation_only(text):
    assert code(reject_reason(text)) == "empty"


def test_annotation_next_to_words_is_kept():
    assert reject_reason("(laughs) okay, fine, cancel it then") is None


# ---------------------------------------------------------- (1) no speech


def test_no_speech_needs_both_scores():
    text = "Thank you."
    reason = reject_reason(text, no_speech_prob=0.85, avg_logprob=-1.4)
    assert code(reason) == "no_speech" and "0.85" in reason
    assert reject_reason(text, no_speech_prob=0.85, avg_logprob=-0.4) is None  # confident text
    assert reject_reason(text, no_speech_prob=0.3, avg_logprob=-1.4) is None  # speech, just unsure
    assert reject_reason(text, no_speech_prob=0.85) is None  # missing score: rule skipped
    assert reject_reason(text, no_speech_prob=0.6, avg_logprob=-1.0) is None  # limits are strict


# ---------------------------------------------------------- (2) compression


def test_compression_ratio():
    reason = reject_reason("I need help with my bill", compression_ratio=2.9)
    assert code(reason) == "compression"
    assert reject_reason("I need help with my bill", compression_ratio=2.4) is None
    assert reject_reason("I need help with my bill", compression_ratio=1.6) is None


def test_thresholds_are_configurable():
    strict = Thresholds(compression_ratio=1.5, no_speech_prob=0.2, avg_logprob=-0.5)
    assert code(reject_reason("hello", compression_ratio=1.6, thresholds=strict)) == "compression"
    assert code(reject_reason("hello", no_speech_prob=0.3, avg_logprob=-0.6, thresholds=strict)) == "no_speech"
    assert DEFAULT_THRESHOLDS.compression_ratio == 2.4 and DEFAULT_THRESHOLDS.no_speech_prob == 0.6


# ------------------------------------------------------ (3) known phrases

HALLUCINATIONS = [
    # en
    "Thanks for watching!",
    "Thank you for watching.",
    " THANK YOU SO MUCH FOR WATCHING!!! ",
    "Thank you for watching this video.",
    "Please subscribe to my channel.",
    "Don't forget to like and subscribe!",
    "Subtitles by the Amara.org community",
    "Okay. Subtitles by the Amara.org community",
    # ru
    "Редактор субтитров А.Синецкая Корректор А.Егорова",
    "Редактор субтитров А. Семкин Корректор А. Егорова",
    "Продолжение следует...",
    "ПРОДОЛЖЕНИЕ СЛЕДУЕТ",
    "Субтитры сделал DimaTorzok",
    "Субтитры создавал DimaTorzok",
    "Спасибо за просмотр!",
    "Ставьте лайки и подписывайтесь на канал!",
    # bg
    "Абонирайте се!",
    "Абонирайте се за канала!",
    "Благодаря за гледането!",
    "Субтитри: Мултитекст",
    "Превод и субтитри: Мултитекст",
    # ro
    "Nu uitați să dați like și subscribe!",
    "Nu uitaţi să daţi like şi subscribe!",  # cedilla variants ş ţ
    "nu uitati sa dati like si subscribe",  # no diacritics at all
    "Vă mulțumesc pentru vizionare!",
    "Va multumesc pentru vizionare.",
    "Mulţumesc pentru vizionare!",
    "Abonați-vă la canal!",
    "Subtitrarea realizată de comunitatea Amara.org",
]


@pytest.mark.parametrize("text", HALLUCINATIONS)
def test_known_hallucination_lines(text):
    assert code(reject_reason(text)) == "known_phrase"


def test_known_phrase_only_when_it_dominates():
    # the phrase is most of the text -> rejected; a minor part of real speech -> kept
    assert code(reject_reason("Thanks for watching, bye!")) == "known_phrase"
    assert reject_reason("Thanks for watching over my account while I was abroad, it really helped me a lot.") is None
    assert reject_reason("thanks") is None and reject_reason("subscribe") is None
    assert reject_reason("watching") is None


def test_every_listed_phrase_is_rejected_on_its_own():
    for phrases in KNOWN_PHRASES.values():
        for phrase in phrases:
            assert code(reject_reason(phrase)) == "known_phrase", phrase


def test_language_is_reported_but_all_lists_are_checked():
    reason = reject_reason("Продолжение следует...", language="bg")
    assert code(reason) == "known_phrase" and "bg" in reason
    assert code(reject_reason("Thanks for watching!", language="ro")) == "known_phrase"


def test_fold():
    assert fold("Vă mulțumesc  pentru VIZIONARE!") == "va multumesc pentru vizionare"
    assert fold("Mulţumesc, ş ț ţ Ș Ş") == fold("Mulțumesc ș t t s s")
    assert fold("Ещё счёт") == fold("еще счет")
    assert fold("Don't  forget\n\tto-like") == "don t forget to like"
    assert fold("¡¿…!?") == ""


# -------------------------------------------------------- (4) repetition


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry. I'm sorry. I'm sorry. I'm sorry. I'm sorry.",
        "Thank you. Thank you. Thank you. Thank you.",
        "okay " * 12,
        "Я не знаю, что делать. " * 6,
        "Добре, добре, добре, добре, добре, добре, добре, добре, добре.",
        "Da, sigur. Da, sigur. Da, sigur. Da, sigur. Da, sigur.",
        "So I called you and and and and and and and and and and and",
    ],
)
def test_runaway_repetition(text):
    assert code(reject_reason(text)) == "repetition"


def test_one_word_dominating_a_long_text():
    text = "no " * 5 + "I said " + "no no no, " * 2 + "and no no no no, no. no"
    words = fold(text).split()
    assert len(words) >= 16
    assert code(reject_reason(text)) == "repetition"


@pytest.mark.parametrize(
    "text",
    [
        "no no no",
        "yes, yes, yes, yes",
        "Да, да, да, да, конечно.",
        "Не, не, не, не!",
        "Nu, nu, nu, nu.",
        "thank you thank you thank you",
        "I'm sorry, I'm sorry, I'm sorry, it won't happen again",
        "The bill, the bill, the bill is wrong and the the amount is too high",
    ],
)
def test_human_repetition_is_kept(text):
    assert reject_reason(text) is None


def test_reason_codes_are_documented():
    samples = [
        reject_reason(""),
        reject_reason("hi", no_speech_prob=0.9, avg_logprob=-2.0),
        reject_reason("hi", compression_ratio=3.0),
        reject_reason("Thanks for watching!"),
        reject_reason("okay " * 12),
    ]
    assert [code(s) for s in samples] == list(REASONS)
