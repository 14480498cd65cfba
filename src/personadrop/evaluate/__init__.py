"""Evaluation: simulators answer a task's examples under its conditions, a judge scores them, results are
kept.

One entry point serves the ``evaluate`` command, the study, the Bayes ceiling table and quick held-out
checks::

    task = EvalTask.load("data/world", split="test", max_examples=300, conditions=["full", "only:values"])
    results = evaluate(task, {"sft": load_simulator("runs/sft")}, make_judge("exact"), out="eval/")
    results.estimate("sft", "only:values")          # mean with a 95% bootstrap interval
"""

from personadrop.evaluate.evaluation import EvalResults, evaluate
from personadrop.evaluate.task import EvalTask, sample_examples

__all__ = ["EvalResults", "EvalTask", "evaluate", "sample_examples"]
