"""Enter judges as raters: score the items of a ratings sample with each judge and write the scores as a
ratings file (CSV: item, rater, dimension, value) that `judge-agreement --human` imports like people's.

It is how the agreement machinery is checked without people, and how two judges are compared on exactly
the items people rate:

    personadrop annotate runs/demo --out ratings --n 100     # draws the sample (Ctrl-C: no rating needed)
    python benchmarks/judges_as_raters.py runs/demo/eval ratings --judges exact embedding --out judges.csv
    personadrop judge-agreement runs/demo --human ratings --human judges.csv

The judge that scored the evaluation (stored scores) is read, not re-run; any other judge scores the items.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("evaluation", type=Path, help="the evaluation directory the sample was drawn from")
    ap.add_argument("ratings", type=Path, help="a ratings directory (personadrop annotate --out)")
    ap.add_argument("--judges", nargs="+", default=["exact", "embedding"], help="judges entered as raters")
    ap.add_argument("--out", type=Path, required=True, help="the CSV to write")
    args = ap.parse_args()

    from personadrop.data.humanual import load_examples
    from personadrop.evaluate.directory import EvaluationDir
    from personadrop.evaluate.ratings import RatingsDir
    from personadrop.judges import make_judge
    from personadrop.judges.base import JudgeRequest

    ev = EvaluationDir.open(args.evaluation)
    sample = RatingsDir.open(args.ratings).sample
    examples = {e.id: e for e in load_examples(ev.meta.data, split=ev.meta.split).examples}
    rows = []
    for spec in args.judges:
        if spec == ev.meta.judge:  # stored: exactly the scores the evaluation reports
            for i in sample.items:
                scores = ev.store.scores[(i.variant, i.condition, i.example_id, spec)].scores
                rows += [(i.id, spec, d, scores[d]) for d in sample.dimensions]
            continue
        judge = make_judge(spec)
        judge.check_ready()
        requests = [
            JudgeRequest.about(examples[i.example_id], [i.reply], d)
            for i in sample.items
            for d in sample.dimensions
        ]
        scores = judge.score(requests)
        judge.close()
        keys = [(i.id, d) for i in sample.items for d in sample.dimensions]
        rows += [(item, spec, d, s[0]) for (item, d), s in zip(keys, scores, strict=True)]
    with args.out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "rater", "dimension", "value"])
        # A judgement that failed (NaN) is no rating.
        writer.writerows(
            (item, rater, d, min(1.0, max(0.0, float(v)))) for item, rater, d, v in rows if v == v
        )
    print(f"{len(rows):,} ratings by {', '.join(args.judges)} written to {args.out}")


if __name__ == "__main__":
    main()
