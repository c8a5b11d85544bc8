"""Per-category recall and precision of the phrase triggers, per language.

Runs the bundled playbooks (or ``--playbook DIR``) over labelled utterances (one
JSON object per line, ``{"language", "speaker", "text", "categories": [...]}``)
and prints, for each language and category, true positives, false positives,
false negatives, recall and precision; a line counts as a positive for a category
when the category is in its labels, and as predicted when at least one trigger of
that category fired.  Only categories of the line's speaker are scored.

The sets, in ``benchmarks/data/triggers/``, say in their names what they are:

- ``holdout.jsonl`` (310 positives, four languages): written by someone who never
  saw the playbooks and **never used for a fix**.  Its figure is the only one that
  estimates how the triggers do on new utterances; it is the default here.  Scored
  on first contact: recall 0.92 / precision 0.95.  Once it is used to change a
  playbook it becomes a development set: rename it, and write a new holdout.
- ``dev_authored.jsonl`` (written with the playbooks, splits dev/test/holdout
  inside) and ``dev_blind1..3.jsonl`` (written blind, scored once on first contact
  at 0.85/0.97, 0.81/0.93 and 0.92/0.94, then tuned on their misses): development
  sets.  They now score about 1.00 / 1.00, an upper bound that says nothing about
  new utterances.  ``--set dev`` scores them all.

Unit tests never use holdout lines (``tests/test_triggers.py`` checks it, folded).

Rerun with:

    .venv/bin/python benchmarks/triggers_eval.py [--set holdout|dev] [--verbose] [--language ru]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.coaching.playbook import load_playbook  # noqa: E402
from monitor.coaching.triggers import TriggerMatcher  # noqa: E402
from monitor.vocabulary import CATEGORIES, LANGUAGES  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "triggers"
SETS = {"holdout": [DATA / "holdout.jsonl"], "dev": sorted(DATA.glob("dev_*.jsonl"))}
RERUN = ".venv/bin/python benchmarks/triggers_eval.py"


def load_rows(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            for key in ("language", "speaker", "text", "categories"):
                if key not in row:
                    raise SystemExit(f"{path}:{n}: missing {key!r}")
            for cat in row["categories"]:
                if cat not in CATEGORIES:
                    raise SystemExit(f"{path}:{n}: unknown category {cat!r}")
                if CATEGORIES[cat] != row["speaker"]:
                    raise SystemExit(f"{path}:{n}: {cat} is not a {row['speaker']} category")
            rows.append(row)
    return rows


def evaluate(rows: list[dict], playbook_dir: str | None, verbose: bool) -> dict:
    matchers = {}
    # counts[lang][cat] = [tp, fp, fn]
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    errors: list[str] = []
    started = time.perf_counter()
    for row in rows:
        lang = row["language"]
        if lang not in matchers:
            matchers[lang] = TriggerMatcher(load_playbook(lang, playbook_dir))
        found = matchers[lang].match(row["text"], row["speaker"])
        predicted = {m.category for m in found}
        gold = set(row["categories"])
        for cat, speaker in CATEGORIES.items():
            if speaker != row["speaker"]:
                continue
            c = counts[lang][cat]
            if cat in gold and cat in predicted:
                c[0] += 1
            elif cat in predicted:
                c[1] += 1
                errors.append(f"FP {lang} {cat:16} {row['text']!r} -> "
                              f"{[m.id for m in found if m.category == cat]}")
            elif cat in gold:
                c[2] += 1
                errors.append(f"FN {lang} {cat:16} {row['text']!r}")
    elapsed = time.perf_counter() - started
    if verbose:
        for e in errors:
            print(e)
        print()
    return {"counts": counts, "elapsed": elapsed, "lines": len(rows)}


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  - "


def print_table(result: dict, languages: list[str]) -> None:
    counts = result["counts"]
    header = f"{'language':8} {'category':16} {'pos':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'recall':>7} {'prec.':>6}"
    print(header)
    print("-" * len(header))
    total = [0, 0, 0]
    for lang in languages:
        lang_total = [0, 0, 0]
        for cat in CATEGORIES:
            tp, fp, fn = counts[lang][cat]
            for t in (lang_total, total):
                t[0] += tp
                t[1] += fp
                t[2] += fn
            print(f"{lang:8} {cat:16} {tp + fn:4} {tp:4} {fp:4} {fn:4} {ratio(tp, tp + fn):>7} {ratio(tp, tp + fp):>6}")
        tp, fp, fn = lang_total
        print(f"{lang:8} {'(all)':16} {tp + fn:4} {tp:4} {fp:4} {fn:4} {ratio(tp, tp + fn):>7} {ratio(tp, tp + fp):>6}")
        print()
    tp, fp, fn = total
    print(f"{'all':8} {'(all)':16} {tp + fn:4} {tp:4} {fp:4} {fn:4} {ratio(tp, tp + fn):>7} {ratio(tp, tp + fp):>6}")
    print(f"\n{result['lines']} lines matched in {result['elapsed']:.3f} s "
          f"(including compiling the playbooks)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=tuple(SETS), default="holdout", dest="which",
                    help="holdout (default: never tuned on, the generalisation figure) or "
                         "dev (every development set: an upper bound)")
    ap.add_argument("--data", type=Path, default=None,
                    help="score this labelled JSONL file instead (e.g. a fresh set)")
    ap.add_argument("--language", choices=LANGUAGES, action="append",
                    help="only this language (repeatable)")
    ap.add_argument("--playbook", default=None, help="a playbook directory (as --playbook of the CLI)")
    ap.add_argument("--split", choices=("dev", "test", "holdout", "new", "all"), default="all",
                    help="which lines to score (default: all)")
    ap.add_argument("--verbose", "-v", action="store_true", help="list every miss and false alarm")
    args = ap.parse_args(argv)
    languages = args.language or list(LANGUAGES)
    paths = [args.data] if args.data else SETS[args.which]
    label = str(args.data) if args.data else (
        "HOLDOUT (never used for a fix: the generalisation figure)" if args.which == "holdout"
        else "DEVELOPMENT sets (tuned on their misses: an upper bound, not generalisation)")
    print(f"set: {label}: {', '.join(p.name for p in paths)}")
    rows = [r for path in paths for r in load_rows(path) if r["language"] in languages]
    if args.split != "all":
        rows = [r for r in rows if r.get("split", "dev") == args.split]
    print(f"split: {args.split}, {len(rows)} lines\n")
    result = evaluate(rows, args.playbook, args.verbose)
    print_table(result, languages)
    if args.split == "all":
        print("\nby the split field inside the lines (recall / precision; all of it is "
              "development data now, whatever the field says):")
        for split in ("dev", "test", "holdout", "new"):
            part = [r for r in rows if r.get("split", "dev") == split]
            if not part:
                continue
            res = evaluate(part, args.playbook, False)["counts"]
            cells = []
            for lang in languages:
                tp = sum(res[lang][c][0] for c in CATEGORIES)
                fp = sum(res[lang][c][1] for c in CATEGORIES)
                fn = sum(res[lang][c][2] for c in CATEGORIES)
                cells.append(f"{lang} {ratio(tp, tp + fn)}/{ratio(tp, tp + fp)}")
            print(f"  {split:5} ({len(part)} lines): " + "   ".join(cells))
    print(f"\nrerun: {RERUN}" + (" " + " ".join(argv) if argv else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
