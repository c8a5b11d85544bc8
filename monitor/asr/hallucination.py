"""Reject Whisper output that is not what the caller said.

Whisper, fed silence, noise or music, tends to "hear" text from its training
data: video-subtitle credits ("Редактор субтитров А.Синецкая Корректор
А.Егорова"), YouTube outros ("Thanks for watching!"), or one phrase repeated
until the window ends.  :func:`reject_reason` is a pure function (no model, no
state) that says whether a segment or utterance should be dropped, and why.

Usage::

    reason = reject_reason(
        seg.text,
        avg_logprob=seg.avg_logprob,
        no_speech_prob=seg.no_speech_prob,
        compression_ratio=seg.compression_ratio,
        language=info.language,
    )
    if reason is not None:
        log.debug("dropped %r: %s", seg.text, reason)

The reason is ``"<code>: <detail>"`` where ``<code>`` is one of :data:`REASONS`.
The rules, in the order they are tried:

``empty``
    no letters or digits, or only non-speech annotations such as ``[Music]``,
    ``(аплодисменты)`` or ``♪``;
``no_speech``
    ``no_speech_prob > 0.6`` **and** ``avg_logprob < -1.0`` (Whisper's own
    silence test; either alone is common in real speech);
``compression``
    ``compression_ratio > 2.4`` (Whisper's own test for looping output);
``known_phrase``
    a known hallucination line in English, Russian, Bulgarian or Romanian makes
    up the text: the whole text, or at least 60 % of it; a few credit markers
    that never occur in a call (``amara org``, ``редактор субтитров``) reject at
    any length;
``repetition``
    the same 1- to 10-word sequence repeated at least 4 times in a row, covering
    at least 8 words; or one word making up half of a text of 16 words or more.

Text is compared after :func:`fold`: case folded, diacritics removed (so ș/ş,
ț/ţ, ă, î, ё/е, й/и all compare equal), punctuation dropped, whitespace
collapsed.  Ordinary short words ("thanks", "no no no") are never rejected by
the text rules alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

__all__ = [
    "DEFAULT_THRESHOLDS",
    "KNOWN_MARKERS",
    "KNOWN_PHRASES",
    "REASONS",
    "Thresholds",
    "fold",
    "reject_reason",
]

#: The reason codes :func:`reject_reason` can return (before the colon).
REASONS = ("empty", "no_speech", "compression", "known_phrase", "repetition")


@dataclass(frozen=True)
class Thresholds:
    """Limits used by :func:`reject_reason`; the defaults follow Whisper's own."""

    #: ``no_speech`` fires when ``no_speech_prob`` is above this ...
    no_speech_prob: float = 0.6
    #: ... and, at the same time, ``avg_logprob`` is below this.
    avg_logprob: float = -1.0
    #: ``compression`` fires when ``compression_ratio`` is above this.
    compression_ratio: float = 2.4
    #: ``known_phrase`` fires when known lines cover at least this share of the
    #: folded text's characters (1.0 would mean "whole text only").
    phrase_share: float = 0.6
    #: ``repetition``: the longest n-gram (words) checked for consecutive repeats,
    max_ngram: int = 10
    #: how many consecutive repeats are needed,
    min_repeats: int = 4
    #: and how many words the repeated run must cover at least.
    min_run_words: int = 8
    #: ``repetition`` also fires when one word is at least this share of the words
    dominant_word_share: float = 0.5
    #: in a text of at least this many words.
    dominant_min_words: int = 16


DEFAULT_THRESHOLDS = Thresholds()


# Known hallucination lines, written as people would write them; they are folded
# (see fold()) before use, so case, punctuation and diacritics do not matter.
# A phrase rejects a text it covers (almost) entirely; it must never be a lone
# ordinary word ("thanks", "bye", "subscribe") that a caller could say.
KNOWN_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "Thanks for watching!",
        "Thank you for watching.",
        "Thank you so much for watching!",
        "Thank you very much for watching.",
        "Thanks for watching, see you in the next video.",
        "See you in the next video.",
        "Please subscribe to my channel.",
        "Please subscribe.",
        "Like and subscribe.",
        "Don't forget to like and subscribe.",
        "Please like, comment and subscribe.",
        "Subtitles by the Amara.org community",
        "Transcription by CastingWords",
    ),
    "ru": (
        "Продолжение следует...",
        "Спасибо за просмотр!",
        "Спасибо за просмотр, до встречи в следующем видео.",
        "Подписывайтесь на канал!",
        "Подписывайтесь на наш канал.",
        "Ставьте лайки и подписывайтесь на канал.",
        "Не забудьте подписаться на канал.",
        "До встречи в следующем видео!",
        "Субтитры сделал DimaTorzok",
        "Субтитры создавал DimaTorzok",
        "Редактор субтитров А.Синецкая Корректор А.Егорова",
        "Субтитры подготовлены сообществом Amara.org",
    ),
    "bg": (
        "Абонирайте се!",
        "Абонирайте се за канала!",
        "Не забравяйте да се абонирате за канала.",
        "Благодаря за гледането!",
        "Благодаря ви, че гледахте!",
        "Очаквайте продължение.",
        "Субтитри: Мултитекст",
        "Субтитри Мултитекст",
        "Превод и субтитри: Мултитекст",
        "Превод и субтитри",
        "Субтитри от Amara.org",
    ),
    "ro": (
        "Nu uitați să dați like și subscribe!",
        "Nu uitați să vă abonați la canal!",
        "Vă mulțumesc pentru vizionare!",
        "Mulțumesc pentru vizionare!",
        "Vă mulțumim pentru vizionare!",
        "Mulțumim pentru vizionare.",
        "Abonați-vă la canal!",
        "Dați like și subscribe!",
        "Subtitrarea realizată de comunitatea Amara.org",
        "Traducerea și adaptarea",
        "Sincronizarea și corectura",
    ),
}

# Credit fragments that no caller says: they reject wherever they appear.
KNOWN_MARKERS: tuple[str, ...] = (
    "amara.org",
    "CastingWords",
    "DimaTorzok",
    "Редактор субтитров",
    "Корректор А. Егорова",
    "А. Синецкая",
    "Субтитры сделал",
    "Субтитры создавал",
    "Мултитекст",
    "Subtitrarea realizată de",
)

_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫♩♬]")
_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Normalise text for comparison: lower case, no diacritics, no punctuation.

    ``"Vă mulțumesc pentru vizionare!"`` and ``"va multumesc  pentru VIZIONARE"``
    fold to the same string, as do ``ş``/``ș``, ``ţ``/``ț`` and ``ё``/``е``.
    Words are separated by single spaces; apostrophes and hyphens split words.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for ch in decomposed:
        category = unicodedata.category(ch)
        if category.startswith("M"):  # combining accent, cedilla, comma below, breve ...
            continue
        kept.append(ch if category[0] in "LN" else " ")
    return _SPACE.sub(" ", "".join(kept)).strip()


def _fold_all(items: tuple[str, ...]) -> tuple[str, ...]:
    # Longest first, so that a longer phrase is removed before a phrase inside it.
    return tuple(sorted({fold(item) for item in items}, key=len, reverse=True))


_PHRASES = _fold_all(tuple(p for phrases in KNOWN_PHRASES.values() for p in phrases))
_MARKERS = _fold_all(KNOWN_MARKERS)


def reject_reason(
    text: str,
    *,
    avg_logprob: float | None = None,
    no_speech_prob: float | None = None,
    compression_ratio: float | None = None,
    language: str | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> str | None:
    """Why this Whisper segment/utterance should be dropped, or ``None`` to keep it.

    ``avg_logprob``, ``no_speech_prob`` and ``compression_ratio`` are Whisper's
    per-segment values; leave out the ones you do not have (for text joined from
    several segments, pass the worst, or none) and the rules needing them are
    skipped.  ``language`` is the language Whisper reported; it only appears in
    the reason, because the phrase lists of all four languages are always
    checked (Whisper's credit lines often come out in another language than the
    call's).  The rules and the reason format are described in the module
    docstring.
    """
    t = thresholds
    folded = fold(_ANNOTATION.sub(" ", text))
    if not folded:
        return "empty: no words" if not fold(text) else "empty: only non-speech annotations"

    if (
        no_speech_prob is not None
        and avg_logprob is not None
        and no_speech_prob > t.no_speech_prob
        and avg_logprob < t.avg_logprob
    ):
        return (
            f"no_speech: no_speech_prob {no_speech_prob:.2f} > {t.no_speech_prob}"
            f" and avg_logprob {avg_logprob:.2f} < {t.avg_logprob}"
        )

    if compression_ratio is not None and compression_ratio > t.compression_ratio:
        return f"compression: compression_ratio {compression_ratio:.2f} > {t.compression_ratio}"

    phrase = _known_phrase(folded, t.phrase_share)
    if phrase is not None:
        where = f" (reported language {language})" if language else ""
        return f"known_phrase: {phrase!r}{where}"

    words = folded.split(" ")
    repeated = _repeated_run(words, t)
    if repeated is not None:
        return f"repetition: {repeated}"
    return None


def _contains(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def _known_phrase(folded: str, share: float) -> str | None:
    for marker in _MARKERS:
        if _contains(folded, marker):
            return marker
    remaining = f" {folded} "
    found = []
    for phrase in _PHRASES:
        needle = f" {phrase} "
        if needle in remaining:
            found.append(phrase)
            while needle in remaining:
                remaining = remaining.replace(needle, " ")
    if not found:
        return None
    total = len(folded.replace(" ", ""))
    left = len(remaining.replace(" ", ""))
    if total and (total - left) / total >= share:
        return found[0]
    return None


def _repeated_run(words: list[str], t: Thresholds) -> str | None:
    n_words = len(words)
    for n in range(1, t.max_ngram + 1):
        best = 0
        for start in range(n):  # each alignment of the n-gram grid
            run = 1
            for i in range(start + n, n_words - n + 1, n):
                if words[i : i + n] == words[i - n : i]:
                    run += 1
                    if run > best:
                        best = run
                        gram = " ".join(words[i : i + n])
                else:
                    run = 1
        if best >= t.min_repeats and best * n >= t.min_run_words:
            return f"{gram!r} repeated {best} times in a row"
    if n_words >= t.dominant_min_words:
        word, count = Counter(words).most_common(1)[0]
        if count / n_words >= t.dominant_word_share:
            return f"{word!r} is {count} of {n_words} words"
    return None
