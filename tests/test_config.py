"""Settings: defaults, a TOML file, flag overrides on top, and clear errors that
name the file and the setting."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from audio.frontend import FrontEndParams
from monitor.config import Config, defaults_toml, load_config
from monitor.errors import CalmlineError

CALMLINE = Path(sys.executable).parent / "calmline"


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def error_of(*args, **kwargs) -> str:
    with pytest.raises(CalmlineError) as info:
        load_config(*args, **kwargs)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- defaults

def test_defaults() -> None:
    cfg = load_config()
    assert cfg == Config()
    assert cfg.audio.channels is None and cfg.channel_mapping is None
    assert cfg.vad.aggressiveness == 2
    assert cfg.raised_voice.onset_db == 7.0
    assert cfg.turns.silence_min_s == 5.0
    assert isinstance(cfg.frontend, FrontEndParams)
    assert cfg.frontend.vad is cfg.vad and cfg.frontend.turns is cfg.turns


def test_config_is_frozen() -> None:
    cfg = load_config()
    with pytest.raises((ValidationError, TypeError, AttributeError)):
        cfg.audio = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.vad.aggressiveness = 3  # type: ignore[misc]


def test_no_overrides_given_is_defaults() -> None:
    """Flags that were not given arrive as None and change nothing."""
    overrides = {"audio": {"channels": None}, "model": {"name": None, "threads": None}}
    assert load_config(None, overrides) == Config()


# --------------------------------------------------------------------------- file values

def test_file_values(tmp_path: Path) -> None:
    p = write(tmp_path, """
        [audio]
        channels = "customer,operator"   # left is the customer on this PBX
        [vad]
        aggressiveness = 3
        [raised_voice]
        onset_db = 8.5
        [turns]
        silence_min_s = 6.0
    """.replace("\n        ", "\n"))
    cfg = load_config(p)
    assert cfg.channel_mapping == ("customer", "operator")
    assert cfg.vad.aggressiveness == 3
    assert cfg.raised_voice.onset_db == 8.5
    assert cfg.turns.silence_min_s == 6.0
    # everything not in the file keeps its default
    d = Config()
    assert cfg.level == d.level
    assert cfg.vad.hangover_ms == d.vad.hangover_ms
    assert cfg.raised_voice.release_db == d.raised_voice.release_db
    assert cfg.frontend.raised_voice.onset_db == 8.5


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing set\n")) == Config()


def test_path_as_string(tmp_path: Path) -> None:
    p = write(tmp_path, "[vad]\naggressiveness = 1\n")
    assert load_config(str(p)).vad.aggressiveness == 1


# --------------------------------------------------------------------------- flags beat the file

def test_flag_overrides_beat_file_values(tmp_path: Path) -> None:
    p = write(tmp_path, '[audio]\nchannels = "customer,operator"\n[vad]\naggressiveness = 3\n')
    cfg = load_config(p, {"audio": {"channels": "operator,customer"}})
    assert cfg.channel_mapping == ("operator", "customer")
    assert cfg.vad.aggressiveness == 3            # untouched by the flags


def test_flag_not_given_keeps_file_value(tmp_path: Path) -> None:
    p = write(tmp_path, '[audio]\nchannels = "customer,operator"\n')
    cfg = load_config(p, {"audio": {"channels": None}})
    assert cfg.channel_mapping == ("customer", "operator")


def test_override_merges_within_a_section(tmp_path: Path) -> None:
    """An override of one key keeps the file's other keys of that section."""
    p = write(tmp_path, "[turns]\nsilence_min_s = 9.0\noverlap_min_s = 1.0\n")
    cfg = load_config(p, {"turns": {"silence_min_s": 7.0}})
    assert cfg.turns.silence_min_s == 7.0
    assert cfg.turns.overlap_min_s == 1.0


def test_override_is_validated_too(tmp_path: Path) -> None:
    message = error_of(None, {"audio": {"channels": "operator,boss"}})
    assert "audio.channels" in message and "boss" in message


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("text, place", [
    ("[vad]\nbogus = 1\n", "vad.bogus"),
    ("[vads]\naggressiveness = 2\n", "vads"),
    ("colour = \"blue\"\n", "colour"),
    ("[raised_voice]\nonset = 8.0\n", "raised_voice.onset"),
])
def test_unknown_key_names_file_and_key(tmp_path: Path, text: str, place: str) -> None:
    p = write(tmp_path, text, "unknown.toml")
    message = error_of(p)
    assert message.startswith(f"{p}: {place}:"), message
    assert "unknown setting" in message


@pytest.mark.parametrize("text, words", [
    ("[vad]\naggressiveness = 4\n", ["vad", "aggressiveness", "between 0 and 3"]),
    ("[vad]\nhangover_ms = 0\n", ["vad", "hangover_ms"]),
    ("[raised_voice]\nonset_db = 0.0\n", ["raised_voice", "onset_db"]),
    ("[raised_voice]\nonset_db = 6.0\nrelease_db = 8.0\n", ["raised_voice", "release_db"]),
    ("[turns]\nsilence_min_s = 100000.0\n", ["turns", "silence_min_s"]),
    ("[level]\nmeter_ms = 5\n", ["level", "meter_ms"]),
    ("[model]\nthreads = -1\n", ["model.threads"]),
    ("[model]\ndevice = \"tpu\"\n", ["model.device"]),
    ("[vad]\naggressiveness = \"high\"\n", ["vad.aggressiveness"]),
    ("[audio]\nchannels = \"operator,operator\"\n", ["audio.channels", "twice"]),
])
def test_bad_value_names_file_and_key(tmp_path: Path, text: str, words: list[str]) -> None:
    p = write(tmp_path, text, "values.toml")
    message = error_of(p)
    assert message.startswith(f"{p}: "), message
    for word in words:
        assert word in message, (word, message)


def test_several_problems_are_counted(tmp_path: Path) -> None:
    p = write(tmp_path, "[vad]\nbogus = 1\n[turns]\nwhatever = 2\n")
    message = error_of(p)
    assert "(and 1 more problem(s))" in message


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.toml"
    assert error_of(p) == f"{p}: config file not found"


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    assert error_of(tmp_path) == f"{tmp_path}: config path is not a file"


def test_not_toml(tmp_path: Path) -> None:
    p = write(tmp_path, "[vad\naggressiveness = 2\n", "broken.toml")
    message = error_of(p)
    assert message.startswith(f"{p}: not valid TOML")
    assert "line 1" in message


def test_not_text(tmp_path: Path) -> None:
    p = tmp_path / "binary.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert error_of(p) == f"{p}: not a UTF-8 text file"


# --------------------------------------------------------------------------- the defaults file

def test_defaults_toml_round_trips(tmp_path: Path) -> None:
    text = defaults_toml()
    data = tomllib.loads(text)
    assert set(data) == set(Config.model_fields)
    cfg = Config()
    for section, keys in data.items():
        value = getattr(cfg, section)
        dumped = value.model_dump() if isinstance(value, BaseModel) else dataclasses.asdict(value)
        # every setting is listed; only unset (None) ones are commented out
        assert set(keys) == {k for k, v in dumped.items() if v is not None}, section
        for key in dumped:
            assert key in keys or f"# {key} =" in text, (section, key)
    assert load_config(write(tmp_path, text, "defaults.toml")) == cfg


def test_edited_defaults_file_is_read(tmp_path: Path) -> None:
    """The usual workflow: dump the defaults, edit one line, use the file."""
    text = defaults_toml().replace("silence_min_s = 5.0", "silence_min_s = 6.5")
    text = text.replace("# channels = ", 'channels = "customer,operator"')
    cfg = load_config(write(tmp_path, text))
    assert cfg.turns.silence_min_s == 6.5
    assert cfg.channel_mapping == ("customer", "operator")
    assert cfg.vad == Config().vad


def test_calmline_config_command(tmp_path: Path) -> None:
    """``calmline config --defaults`` prints defaults_toml(); ``calmline config FILE``
    checks a file (exit 0) or reports the problem (exit 2, one line)."""
    env = dict(os.environ, COLUMNS="120")
    r = subprocess.run([str(CALMLINE), "config", "--defaults"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == defaults_toml()
    good = write(tmp_path, r.stdout, "good.toml")
    bad = write(tmp_path, "[vad]\naggressiveness = 7\n", "bad.toml")
    r = subprocess.run([str(CALMLINE), "config", str(good)], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
    r = subprocess.run([str(CALMLINE), "config", str(bad)], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"calmline: error: {bad}: vad") and "aggressiveness" in line
