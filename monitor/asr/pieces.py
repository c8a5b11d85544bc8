"""A long turn transcribed piece by piece, live.

The endpointer marks *cuts* in a long turn's pauses (``audio/endpointing.py``:
a pause of ``piece_pause_ms`` at least ``piece_min_s`` into the piece, none
within ``piece_tail_min_s`` of the end).  A live call transcribes the pieces
before a cut while the speaker is still talking (idle work, in the call's side
slot when it is free), so when the turn ends only its last piece is left to transcribe: for a
7.5 s customer turn cut once, about 2 s of audio instead of 7.5 s, which is
most of the lag of a long turn (``benchmarks/live_latency.py --fixture
long_turns``).  Partials of the turn reuse the pieces done and transcribe only
the rest.

The transcript of an utterance is its pieces' transcripts joined, whether they
were made ahead or by the final itself: where the cuts fall depends on the audio
alone, so the same audio gives the same words however busy the machine was.
Each piece goes through the hallucination filter on its own (a breath after a
pause must not bring back "Thank you."); the kept ones are joined.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from monitor.asr.engine import Transcript
from monitor.asr.hallucination import reject_reason
from monitor.asr.short_context import compression_ratio

__all__ = ["Key", "done_ahead", "join", "transcribe_pieces"]

#: a piece of one speaker's utterance: (its ``t``, start sample, end sample)
Key = tuple[float, int, int]


def done_ahead(t: float, bounds: list[tuple[int, int]], done: dict[Key, Transcript]
               ) -> tuple[list[str], int]:
    """For a partial of the utterance starting at ``t`` with pieces ``bounds``:
    the texts of its first pieces made ahead (those the filter keeps) and where
    the audio left to transcribe starts."""
    texts: list[str] = []
    start = 0
    for a, b in bounds[:-1]:
        tr = done.get((t, a, b))
        if tr is None:
            break
        if not _rejected(tr):
            texts.append(tr.text.strip())
        start = b
    return texts, start


def _rejected(tr: Transcript) -> bool:
    return reject_reason(tr.text, avg_logprob=tr.avg_logprob, no_speech_prob=tr.no_speech_prob,
                         compression_ratio=tr.compression_ratio, language=tr.language) is not None


def join(parts: list[Transcript]) -> Transcript:
    """One transcript of an utterance from its pieces' (in order).  Pieces the
    hallucination filter rejects are left out; if all are, the first comes back
    (and is rejected by the caller's filter the same way)."""
    kept = [p for p in parts if not _rejected(p)]
    if len(parts) == 1 or not kept:
        return parts[0]
    if len(kept) == 1:
        return kept[0]
    text = " ".join(p.text.strip() for p in kept)
    weights = [max(1, len(p.text)) for p in kept]
    main = max(kept, key=lambda p: len(p.text))
    return Transcript(
        text=text,
        language=main.language,
        language_probability=min(p.language_probability for p in kept),
        avg_logprob=float(np.average([p.avg_logprob for p in kept], weights=weights)),
        no_speech_prob=min(p.no_speech_prob for p in kept),
        compression_ratio=compression_ratio(text),
        full_context=any(p.full_context for p in kept),
    )


def transcribe_pieces(t: float, samples: np.ndarray, bounds: list[tuple[int, int]],
                      done: Callable[[Key], Transcript | None],
                      transcribe: Callable[[np.ndarray, bool], Transcript | None],
                      keep: Callable[[Key, Transcript], None]) -> Transcript | None:
    """The transcript of the utterance starting at ``t`` whose pieces are
    ``bounds``: each piece from ``done`` if it was made ahead, else
    ``transcribe(audio, last)`` (``last``: the utterance's last piece, the only
    one that may be given up: None comes back then), and the pieces before the
    last are handed to ``keep``."""
    parts: list[Transcript] = []
    for k, (a, b) in enumerate(bounds):
        last = k == len(bounds) - 1
        key = (t, a, b)
        tr = None if last else done(key)
        if tr is None:
            tr = transcribe(samples[a:b], last)
            if tr is None:
                return None
            if not last:
                keep(key, tr)
        parts.append(tr)
    return join(parts)
