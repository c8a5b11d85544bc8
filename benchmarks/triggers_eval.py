"""Per-category recall and precision of the phrase triggers, per language.

Runs the bundled playbooks (or ``--playbook DIR``) over a labelled set of
utterances (``benchmarks/data/triggers_eval.jsonl``: one JSON object per line,
``{"language", "speaker", "text", "categories": [...], "split"}``) and prints,
for each language and category, true positives, false positives, false
negatives, recall and precision; a line counts as a positive for a category
when the category is in its labels, and as predicted when at least one trigger
of that category fired.  Only categories of the line's speaker are scored.

Three splits, written one after the other by the same author as the
playbooks: ``dev`` (the playbooks were tuned on its misses), ``test`` (scored
blind once, then also used for tuning), ``holdout`` (written last and never
used to change the playbooks: the fairest estimate of how the triggers do on
new utterances, until it too was used; see below).  None of the lines is used
by the unit tests.

Recorded results (recall / precision over all categories, all languages):

- dev, first run after writing it:      0.95 / 0.98  (578 positives)
- test, first (blind) run:              0.94 / 0.99  (292 positives)
- holdout, first (blind) run:           0.90 / 0.99  (241 positives;
  per language en 0.87/0.98, ru 0.87/0.98, bg 0.93/0.98, ro 0.92/1.00;
  weakest: manager_request en/ru 0.40, repeat_contact ru 0.60, churn bg 0.60)
- every split after tuning on its misses: about 1.00 / 1.00, which says
  nothing about new utterances: write fresh lines (split "new") to measure
  again.

Rerun with:

    .venv/bin/python benchmarks/triggers_eval.py [--verbose] [--language ru]
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

from monitor.playbook import CATEGORIES, LANGUAGES, load_playbook  # noqa: E402
from monitor.triggers import TriggerMatcher  # noqa: E402

DEFAULT_DATA = ROOT / "benchmarks" / "data" / "triggers_eval.jsonl"
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
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled JSONL file")
    ap.add_argument("--language", choices=LANGUAGES, action="append",
                    help="only this language (repeatable)")
    ap.add_argument("--playbook", default=None, help="a playbook directory (as --playbook of the CLI)")
    ap.add_argument("--split", choices=("dev", "test", "holdout", "new", "all"), default="all",
                    help="which lines to score (default: all)")
    ap.add_argument("--verbose", "-v", action="store_true", help="list every miss and false alarm")
    args = ap.parse_args(argv)
    languages = args.language or list(LANGUAGES)
    rows = [r for r in load_rows(args.data) if r["language"] in languages]
    if args.split != "all":
        rows = [r for r in rows if r.get("split", "dev") == args.split]
    print(f"split: {args.split}, {len(rows)} lines\n")
    result = evaluate(rows, args.playbook, args.verbose)
    print_table(result, languages)
    if args.split == "all":
        print("\nsummary by split (recall / precision over all categories):")
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
