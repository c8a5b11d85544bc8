"""Memory: peak RSS of ``calmline replay`` on a long call against a short one, so
memory is shown to stay flat with the length of the call.

    .venv/bin/python benchmarks/memory.py [--long-minutes 120] [--short-minutes 2]
                                           [--asr-minutes 10]

Calls are the escalation fixture tiled to length, written as 16-bit stereo
16 kHz FLAC into a temporary directory.  Each run is a fresh
``calmline replay FILE --events /dev/null --no-progress`` process, measured with
``/usr/bin/time -v`` (or, without it, ``getrusage(RUSAGE_CHILDREN)`` in a fresh
wrapper process):

- front end only (``--no-transcribe``): the long call (2 h) vs the short (2 min);
- with transcription (replay mode): a 10-minute call vs the short one (2 hours
  of transcription would take hours on a small CPU).

Prints each peak RSS, the differences (goal: within 50 MB) and each command.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _calls import ROOT, decode, fixture, tiled, write_flac

GOAL_MB = 50.0
CALMLINE = Path(sys.executable).parent / "calmline"

_WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:], "
            "stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one fresh run of ``cmd``."""
    t0 = time.perf_counter()
    timer = shutil.which("time", path="/usr/bin")
    if timer:
        proc = subprocess.run([timer, "-v", *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        kb = int(found.group(1)) if found else None
    else:
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
        lines = proc.stdout.strip().splitlines()
        kb = int(lines[-1]) if lines else None       # Linux: kilobytes
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or kb is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        sys.exit(f"failed (rc {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return kb / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--long-minutes", type=float, default=120.0)
    ap.add_argument("--short-minutes", type=float, default=2.0)
    ap.add_argument("--asr-minutes", type=float, default=10.0,
                    help="length of the transcribed long call (0 = skip the transcribing runs)")
    ap.add_argument("--keep", metavar="DIR", default=None,
                    help="write the calls into DIR and keep them (default: a temporary dir)")
    args = ap.parse_args()
    if not CALMLINE.exists():
        sys.exit(f"{CALMLINE} not found: run with the project's venv python")

    tmp = tempfile.TemporaryDirectory(prefix="calmline-bench-") if args.keep is None else None
    where = Path(args.keep or tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    clip = decode(fixture("escalation"))
    files: dict[float, Path] = {}
    minutes = [args.short_minutes, args.long_minutes] + ([args.asr_minutes] if args.asr_minutes else [])
    for m in minutes:
        if m not in files:
            files[m] = where / f"call-{m:g}min.flac"
            write_flac(files[m], tiled([clip], m * 60), channels=2)
    del clip

    def cmd(m: float, transcribe: bool) -> list[str]:
        c = [str(CALMLINE), "replay", str(files[m]), "--events", "/dev/null", "--no-progress"]
        return c + ([] if transcribe else ["--no-transcribe"])

    runs = [(args.short_minutes, False), (args.long_minutes, False)]
    if args.asr_minutes:
        runs += [(args.short_minutes, True), (args.asr_minutes, True)]
    result: dict[tuple[float, bool], float] = {}
    how = "/usr/bin/time -v" if shutil.which("time", path="/usr/bin") else "getrusage(RUSAGE_CHILDREN)"
    print(f"peak RSS of fresh `calmline replay` processes ({how}); calls: escalation fixture tiled, "
          f"FLAC in {where}")
    for m, asr in runs:
        rss, wall = peak_rss_mb(cmd(m, asr))
        result[(m, asr)] = rss
        size = os.path.getsize(files[m]) / 1e6
        print(f"  {'transcribe   ' if asr else 'no-transcribe'} {m:6g} min ({size:6.1f} MB file): "
              f"peak RSS {rss:7.1f} MB  ({wall:6.1f} s)   $ {' '.join(cmd(m, asr))}")

    def diff(long_m: float, asr: bool, label: str) -> None:
        d = result[(long_m, asr)] - result[(args.short_minutes, asr)]
        verdict = "ok" if abs(d) <= GOAL_MB else "OVER GOAL"
        print(f"{label}: {long_m:g} min - {args.short_minutes:g} min = {d:+.1f} MB "
              f"(goal within {GOAL_MB:g} MB: {verdict}); ratio {result[(long_m, asr)] / result[(args.short_minutes, asr)]:.3f}")

    diff(args.long_minutes, False, "front end only")
    if args.asr_minutes:
        diff(args.asr_minutes, True, "with transcription")
        if args.asr_minutes < args.long_minutes:
            print(f"note: transcription was measured on {args.asr_minutes:g} min, not "
                  f"{args.long_minutes:g} min: this shows memory flat over a "
                  f"{args.asr_minutes / args.short_minutes:g}x longer call with transcription, "
                  f"not over {args.long_minutes:g} min")
    print(f"reproduce: .venv/bin/python benchmarks/memory.py --long-minutes {args.long_minutes:g} "
          f"--short-minutes {args.short_minutes:g} --asr-minutes {args.asr_minutes:g}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
