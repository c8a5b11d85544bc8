"""Stored golden event files: behaviour and the on-disk format stay put.

``tests/golden/<fixture>.jsonl.gz`` are the events ``calmline replay
fixtures/<fixture>.flac --no-transcribe --events F`` wrote before the remodel of
``monitor/`` (schema v1).  ``escalation_words.jsonl.gz`` is a full replay of the
escalation call with the bundled model (``--language en``).  Three checks:

- every stored line loads through the event codec and serialises back to the very
  same JSON (old files load; the wire format is unchanged);
- replaying each fixture today gives the same events, apart from wall-clock fields;
- the coach, fed the stored words and acoustic cues of the escalation call, makes
  the same triggers, state changes and prompts (this needs no model, so a CPU whose
  int8 kernels round differently cannot move it).

Regenerate (only when a change of behaviour is intended, and say so in the commit):
``.venv/bin/python tests/test_golden_events.py --regen``.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = ROOT / "fixtures"
REPLAYED = ("calm", "escalation", "mono", "telephone_8k")
COACH_OUT = ("trigger", "state", "prompt")


def lines(name: str) -> list[str]:
    with gzip.open(GOLDEN / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh if line.strip()]


def replay_events(name: str, out: Path) -> list[dict]:
    """Run the command from the repository root, as the stored files were made
    (``call_start.source`` is the path as given)."""
    from monitor.cli import main

    with pytest.raises(SystemExit) as done:
        main(["replay", f"fixtures/{name}.flac", "--no-transcribe", "--events", str(out)])
    assert done.value.code in (0, None)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def comparable(obj: dict) -> dict:
    from monitor.events import without_wall

    return without_wall(obj)


@pytest.mark.parametrize("name", REPLAYED + ("escalation_words",))
def test_stored_lines_load_and_serialise_unchanged(name: str) -> None:
    from monitor.events import event_from_dict

    stored = lines(name)
    assert len(stored) > 100
    for line in stored:
        assert event_from_dict(json.loads(line)).to_json() == line


@pytest.mark.parametrize("name", REPLAYED)
def test_replay_gives_the_stored_events(name: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    want = [comparable(json.loads(line)) for line in lines(name)]
    got = [comparable(e) for e in replay_events(name, tmp_path / "events.jsonl")]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w


def test_coach_on_stored_words_makes_the_stored_prompts() -> None:
    from monitor.config import load_config
    from monitor.event_bus import EventBus
    from monitor.events import event_from_dict
    from monitor.session import build_stages

    stored = [event_from_dict(json.loads(line)) for line in lines("escalation_words")]
    cfg = load_config(None, {"transcription": {"language": "en"}})
    bus = EventBus("escalation")
    seen: list = []
    bus.subscribe(seen.append)
    parts = build_stages(cfg, bus, ("operator", "customer"), transcribe=False, live=False,
                         say=lambda m: None)

    class _End:                     # what the coach reads of the front end at the end
        t = stored[-1].t

    for e in stored:
        if e.type in COACH_OUT or e.type in ("summary", "call_end"):
            continue
        bus.emit(e.type, e.t, e.speaker, **dict(e.data))
    for stage in parts.stages:
        stage.finish(_End)

    def made(events) -> list[tuple]:
        return [(e.type, e.t, e.speaker, json.dumps(dict(e.data), sort_keys=True))
                for e in events if e.type in COACH_OUT]

    want = made(stored)
    assert len(want) >= 15
    assert made(seen) == want


def _regen() -> None:
    """Rewrite the replayed golden files from today's code."""
    import os
    import tempfile

    os.chdir(ROOT)
    for name in REPLAYED:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "e.jsonl"
            replay_events(name, out)
            data = out.read_text(encoding="utf-8")
        with gzip.GzipFile(GOLDEN / f"{name}.jsonl.gz", "wb", compresslevel=9, mtime=0) as fh:
            fh.write(data.encode("utf-8"))
        print(f"wrote tests/golden/{name}.jsonl.gz ({data.count(chr(10))} events)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        sys.exit("usage: python tests/test_golden_events.py --regen")
    sys.path.insert(0, str(ROOT))
    _regen()
