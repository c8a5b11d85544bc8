"""Rewrite the coach's part of ``tests/golden/escalation_words.jsonl.gz`` from today's coach.

``escalation_words`` is a full replay of the escalation call with the bundled model.
Replaying it again would also re-run the transcriber (whose int8 output moves with
the CPU and with every change to the speech wing), so when a change of *coaching*
behaviour is intended, only the coach's events are made again:

- every stored event that is not the coach's own (``trigger``, ``state``,
  ``prompt``, and ``trigger_withdrawn``) is kept as it is, fields and ``wall``
  included, and fed to a fresh coach exactly as ``tests/test_golden_events.py``
  does;
- the coach's events are written right after the event that caused them (the
  bus's own order), with the ``wall`` the stored file gave the same event (same
  type, ``t``, speaker and id), else the ``wall`` of the event that caused them;
- ``call_end`` and the ``summary`` follow, the summary's ``coach`` section
  replaced by the new coach's;
- ``seq`` is numbered afresh, 0, 1, 2, ...

Run from the repository root, only for an intended change, and say what changed
in the commit message::

    .venv/bin/python scripts/regen_golden_coach.py
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402
from monitor.event_bus import EventBus  # noqa: E402
from monitor.events import Event, event_from_dict  # noqa: E402
from monitor.session import build_stages  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "escalation_words.jsonl.gz"
COACH_OUT = ("trigger", "state", "prompt", "trigger_withdrawn")


def _key(d: dict) -> tuple:
    return d["type"], d["t"], d.get("speaker"), d.get("id"), d.get("level")


def main() -> int:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
        stored = [json.loads(line) for line in fh if line.strip()]
    cfg = load_config(None, {"transcription": {"language": "en"}})
    bus = EventBus(stored[0]["call_id"], clock=lambda: 0.0)
    seen: list[Event] = []
    bus.subscribe(seen.append)
    parts = build_stages(cfg, bus, ("operator", "customer"), transcribe=False, live=False,
                         say=lambda m: None)
    old_walls = {_key(d): d["wall"] for d in stored if d["type"] in COACH_OUT}
    out: list[dict] = []
    wall = 0.0
    tail = [d for d in stored if d["type"] in ("call_end", "summary")]
    for d in stored:
        if d["type"] in COACH_OUT or d["type"] in ("call_end", "summary"):
            continue
        wall = d["wall"]
        e = event_from_dict(d)
        start = len(seen)
        bus.emit(e.type, e.t, e.speaker, **dict(e.data))
        out.append(d)
        for made in seen[start + 1:]:
            m = made.to_dict()
            out.append(dict(m, wall=old_walls.get(_key(m), wall)))

    class _End:
        t = stored[-1]["t"]

    start = len(seen)
    for stage in parts.stages:
        stage.finish(_End)
    for made in seen[start:]:
        m = made.to_dict()
        out.append(dict(m, wall=old_walls.get(_key(m), wall)))
    coach = next(s for s in parts.stages if hasattr(s, "summary") and hasattr(s, "policy"))
    for d in tail:
        if d["type"] == "summary":
            d = dict(d, coach=json.loads(json.dumps(coach.stats()["coach"])))
        out.append(d)
    for seq, d in enumerate(out):
        d["seq"] = seq
    lines = [event_from_dict(d).to_json() for d in out]
    with gzip.GzipFile(GOLDEN, "wb", compresslevel=9, mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))
    print(f"wrote {GOLDEN.relative_to(ROOT)} ({len(lines)} events)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
