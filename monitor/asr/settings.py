"""The live and replay transcription settings (``[transcription]``) and what
building the stage reads of the configuration."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audio.endpointing import EndpointParams
from audio.vad import VadParams
from monitor.vocabulary import LANGUAGE_CHOICES


class TranscriptionParams(BaseModel):
    """``[transcription]`` settings; each range is declared once, here."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    language: str = "auto"
    replay_beam_size: int = Field(5, ge=1, le=10)
    live_beam_size: int = Field(2, ge=1, le=5, description="live: beam size of finals and "
                                "speculative finals (partials are greedy); 1 = greedy, fastest")
    max_new_tokens: int = Field(128, ge=16, le=440)
    queue_max: int = Field(6, ge=1, le=100)
    merge_max_s: float = Field(25.0, ge=1.0, le=29.0)
    partial_after_s: float = Field(1.5, ge=1.0, le=30.0, description="live: partial transcripts "
                                   "of a turn longer than this, so a trigger can prompt before it ends")
    partial_every_s: float = Field(1.0, ge=0.2, le=30.0, description="live: at most one partial "
                                   "transcript per this much new audio of a turn")
    operator_partials: bool = Field(False, description="live: partial transcripts of the operator's "
                                    "turns too (the coach's early triggers need only the customer's)")
    language_confidence: float = Field(0.7, ge=0.0, le=1.0)
    speculate_ms: int = Field(200, ge=0, le=5000, description="0 = off")
    replay_batch_s: float = Field(24.0, ge=0.0, le=28.0, description="0 = one call per utterance")
    replay_batch_wait_s: float = Field(30.0, ge=1.0, le=600.0)
    max_age_s: float = Field(3.0, ge=0.5, le=60.0, description="live: a transcript older than "
                             "this (from the end of its speech) is dropped, not shown")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGE_CHOICES:
            raise ValueError(f"must be one of {', '.join(LANGUAGE_CHOICES)}")
        return value

    @field_validator("replay_batch_s")
    @classmethod
    def _window_or_off(cls, value: float) -> float:
        if 0.0 < value < 2.0:
            raise ValueError("must be 0 (off) or between 2 and 28")
        return value


class _ModelSettings(Protocol):
    name: str
    device: str
    threads: int

    @property
    def resolved_compute_type(self) -> str: ...


class AsrSettings(Protocol):
    """What building the stage reads of the configuration (``monitor.config.Config``
    has these; this wing does not import ``config``, which imports this wing)."""

    @property
    def model(self) -> _ModelSettings: ...
    @property
    def transcription(self) -> TranscriptionParams: ...
    @property
    def endpointing(self) -> EndpointParams: ...
    @property
    def vad(self) -> VadParams: ...
