"""Wall time of the whole study, stage by stage, against the budgets in the README ("Budget and what the
default shows").

Budgets on the 2-core machine: the quick profile within 2 minutes, the default profile (three training
seeds per variant, at least 300 test examples) within 15 minutes; the goal is 10. The study runs from
scratch in a fresh directory, exactly as `personadrop study` would, and the stage times come from the
study's own timings.json.

Run it alone (two CPU cores; anything else running skews the figures):
    python benchmarks/bench_study.py --profile quick
    python benchmarks/bench_study.py --profile default [--config configs/demo.yaml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = {"quick": 120, "default": 900}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(BUDGET_S), default="quick")
    ap.add_argument("--config", help="study config (default: the embedded demo)")
    ap.add_argument(
        "--keep", type=Path, help="write the study here and keep it (default: a temporary directory)"
    )
    args = ap.parse_args()

    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-study-")) / "study"
    if out.exists():
        sys.exit(f"{out} exists; the benchmark times a study from scratch")
    cmd = [
        sys.executable,
        "-m",
        "personadrop",
        "study",
        "--profile",
        args.profile,
        "--out",
        str(out),
        "--no-progress",
    ]
    if args.config:
        cmd += ["--config", args.config]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"study failed ({proc.returncode}):\n{proc.stderr[-3000:]}")

    timings = json.loads((out / "timings.json").read_text())
    summary = json.loads((out / "report" / "summary.json").read_text())
    n_examples = summary["n_examples"]
    budget = BUDGET_S[args.profile]
    verdict = "within" if wall <= budget else "OVER"
    print(f"profile {args.profile}: {wall:.0f} s wall (budget {budget} s: {verdict})")
    print(f"test examples evaluated: {n_examples}")
    for stage, seconds in timings.items():
        print(f"  {stage:<28} {seconds:8.1f} s")
    print(proc.stdout)
    if args.keep is None:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
