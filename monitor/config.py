"""Settings: one TOML file, overridable by command-line flags, validated once.

The result is a frozen :class:`Config`; stages receive the frozen parameter
objects they need and never see raw dictionaries.  Example file::

    [audio]
    channels = "customer,operator"   # left is the customer on this PBX

    [vad]
    aggressiveness = 3

    [raised_voice]
    onset_db = 8.0

    [turns]
    silence_min_s = 6.0

Every key and its default is listed by ``calmline config --defaults``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audio.channels import parse_mapping
from audio.endpointing import EndpointParams
from audio.errors import AudioInputError
from audio.frontend import FrontEndParams
from audio.level import LevelParams
from audio.raised_voice import RaisedVoiceParams
from audio.turns import TurnParams
from audio.vad import VadParams
from monitor.coaching.coach import CoachParams
from monitor.errors import CalmlineError
from monitor.asr.transcription import TranscriptionParams

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class AudioSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: Optional[str] = Field(
        None, description="speaker of each input channel, e.g. 'operator,customer'")

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_mapping(value)
            except AudioInputError as exc:
                raise ValueError(str(exc)) from None
        return value


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field("base", description="'base' (bundled), a faster-whisper model name or a directory")
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = Field("auto", description="auto = int8 on cpu, float16 on cuda")
    threads: int = Field(0, ge=0, le=256, description="CPU threads of each model call; 0 = automatic (1 for live and serve, which run several calls at once; CTranslate2's choice for replay)")

    @property
    def resolved_compute_type(self) -> str:
        if self.compute_type != "auto":
            return self.compute_type
        return "int8" if self.device == "cpu" else "default"


class HubSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    share_operator_cues: bool = Field(
        False, description="send the operator's own level, raised voice and breathe prompts to the hub")
    spool_dir: Optional[str] = Field(None, description="where events wait while the hub is unreachable")
    db: Optional[str] = Field(None, description="hub database (default ~/.local/share/calmline/hub.sqlite3)")
    retention_days: float = Field(30.0, gt=0, le=3650, description="`calmline hub purge` keeps this long")
    dashboard_ended_calls: int = Field(
        200, ge=0, le=5000, description="ended flagged calls a dashboard lists when it connects, besides the live ones")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    audio: AudioSection = AudioSection()
    vad: VadParams = VadParams()
    level: LevelParams = LevelParams()
    raised_voice: RaisedVoiceParams = RaisedVoiceParams()
    turns: TurnParams = TurnParams()
    endpointing: EndpointParams = EndpointParams()
    transcription: TranscriptionParams = TranscriptionParams()
    model: ModelSection = ModelSection()
    coach: CoachParams = CoachParams()
    hub: HubSection = HubSection()

    @property
    def frontend(self) -> FrontEndParams:
        return FrontEndParams(vad=self.vad, level=self.level,
                              raised_voice=self.raised_voice, turns=self.turns)

    @property
    def channel_mapping(self) -> tuple[str, ...] | None:
        return parse_mapping(self.audio.channels) if self.audio.channels else None


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


def _toml_table(name: str, items: dict[str, Any], lines: list[str]) -> None:
    lines.append(f"[{name}]")
    nested = {}
    for key, v in items.items():
        if isinstance(v, dict):
            nested[key] = v
        elif v is None:
            lines.append(f"# {key} = ")
        else:
            lines.append(f"{key} = {_toml_value(v)}")
    lines.append("")
    for key, v in nested.items():
        _toml_table(f"{name}.{key}", v, lines)


def defaults_toml() -> str:
    """Every setting with its default, as a TOML file."""
    dumped = Config().model_dump()
    lines: list[str] = []
    for section, items in dumped.items():
        _toml_table(section, items, lines)
    return "\n".join(lines)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict):
            out[key] = _merge(out.get(key, {}) if isinstance(out.get(key), dict) else {}, value)
        elif value is not None:
            out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (if given), apply ``overrides`` (flag values; None = not given)."""
    data: dict[str, Any] = {}
    where = "settings"
    if path is not None:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise CalmlineError(f"{p}: config file not found" if not p.exists()
                                else f"{p}: config path is not a file")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CalmlineError(f"{p}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise CalmlineError(f"{p}: not a UTF-8 text file") from None
    data = _merge(data, overrides or {})
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        place = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            msg = "unknown setting"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise CalmlineError(f"{where}: {place}: {msg}{more}") from None
