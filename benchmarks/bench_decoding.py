"""Generation speed of one simulator under decoding settings, on the evaluation grid, with a check that
every setting writes the same replies.

Evaluation generates every (variant, condition, test example): 24,000 replies in the default study, most
of its time. This times a simulator on a few of the grid's chunks, exactly as one evaluation worker
generates them (one torch thread, the study's chunks), under each setting in turn, round robin, so a
slow spell of the machine hits every setting alike. Greedy replies must not depend on these settings:
the script reports how many replies differ from the first setting's.

    python benchmarks/bench_decoding.py RUN_DIR WORLD_DIR --prefill-chunk 0 32 64
    python benchmarks/bench_decoding.py RUN_DIR WORLD_DIR --batch-size 64 128

RUN_DIR: a training run (``personadrop train`` or a study's runs/<variant>), a checkpoint, or a model
name such as world-tiny; WORLD_DIR: the world it is evaluated on. Run it alone (two CPU cores).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a run directory, a checkpoint directory or a model name")
    ap.add_argument("world", help="the world (or data) directory the grid is drawn from")
    ap.add_argument("--prefill-chunk", type=int, nargs="+", help="Decoding.prefill_chunk values to compare")
    ap.add_argument("--batch-size", type=int, nargs="+", help="Decoding.batch_size values to compare")
    ap.add_argument("--examples", type=int, default=300, help="test examples in the grid (the study's 300)")
    ap.add_argument("--chunks", type=int, default=3, help="grid chunks timed per setting (spread over it)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over all settings")
    args = ap.parse_args()
    if bool(args.prefill_chunk) == bool(args.batch_size):
        ap.error("give exactly one of --prefill-chunk and --batch-size")
    field, values = (
        ("prefill_chunk", args.prefill_chunk) if args.prefill_chunk else ("batch_size", args.batch_size)
    )

    import torch

    from personadrop.evaluate import EvalTask
    from personadrop.evaluate.grid import generate_chunk, grid_chunks
    from personadrop.simulators import load_simulator

    torch.set_num_threads(1)  # as one evaluation worker
    task = EvalTask.load(args.world, split="test", max_examples=args.examples, seed=0)
    chunks = grid_chunks(task)
    picked = [chunks[round(i * (len(chunks) - 1) / max(1, args.chunks - 1))] for i in range(args.chunks)]
    simulators = {v: load_simulator(args.model, data=args.world, device="cpu", **{field: v}) for v in values}
    seconds = dict.fromkeys(values, 0.0)
    replies: dict[int, list[str]] = {v: [] for v in values}
    for round_ in range(args.repeats):
        for v in values:
            start = time.perf_counter()
            rows = [
                row for chunk in picked for row in generate_chunk("bench", simulators[v], chunk, task.seed)
            ]
            seconds[v] += time.perf_counter() - start
            if round_ == 0:
                replies[v] = [row.output for row in rows]
    n = len(replies[values[0]])
    print(f"{n} generations per round ({args.chunks} chunks of the grid), {args.repeats} rounds, one thread")
    first = values[0]
    for v in values:
        differ = sum(a != b for a, b in zip(replies[first], replies[v], strict=True))
        per = seconds[v] / args.repeats
        print(
            f"  {field}={v:<5} {per:7.1f} s per round  ({per / seconds[first] * args.repeats:5.0%} of "
            f"{field}={first})  replies differing from it: {differ}"
        )


if __name__ == "__main__":
    main()
