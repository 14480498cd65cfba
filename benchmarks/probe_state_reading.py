"""How fast does a checkpoint learn to read one latent state from the persona, asked for it alone?

Fine-tunes CHECKPOINT on one single-state task (``--state belief``: "<belief>most people mean well</belief>")
of a world's train split, whole personas shown, and prints a learning curve: the share of test examples
whose greedy answer is the true state. Compare it with how often the same checkpoint's *replies* state it
right after a study's SFT (the per-dimension scores of ``personadrop evaluate``): in a reply a state is a
few tokens among many, and that is where the tiny model was slow to learn to read it.

    python benchmarks/probe_state_reading.py world-tiny data/world --state belief --steps 400

The world is a target world here (its train split), so this measures learnability; the shipped base's
state stage (configs/pretrain-world.yaml) trains on other worlds only. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a model name (world-tiny) or a local checkpoint directory")
    ap.add_argument("world", help="a world directory (personadrop world --out ...)")
    ap.add_argument("--state", default="belief", help="stance, emotion, belief, value, goal or communication")
    ap.add_argument("--steps", type=int, default=400, help="0: score the checkpoint as it is")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=100, help="evaluate every this many steps")
    ap.add_argument("--test", type=int, default=200, help="test examples scored")
    args = ap.parse_args()

    import torch
    from transformers import TrainerCallback

    from personadrop.data.example import STATE_DIMENSIONS
    from personadrop.data.humanual import load_examples
    from personadrop.dropout import Full, MaskKey
    from personadrop.models.base import SimulationItem
    from personadrop.models.hf import Decoding, HFSimulator, load_model
    from personadrop.models.registry import resolve_model
    from personadrop.prompts import PromptBuilder, parse_output
    from personadrop.train.config import TrainConfig
    from personadrop.train.datasets import build_rows
    from personadrop.train.sft import train_sft

    if args.state not in STATE_DIMENSIONS:
        raise SystemExit(f"error: --state must be one of {', '.join(STATE_DIMENSIONS)}")
    torch.set_num_threads(1)
    model, tokenizer = load_model(resolve_model(args.checkpoint), device="cpu")
    train = list(load_examples(args.world, split="train").examples)
    test = list(load_examples(args.world, split="test").examples)[: args.test]
    batch = 8
    rows = build_rows(
        train,
        Full(),
        PromptBuilder(tokenizer, 352),
        seed=0,
        epochs=max(1, math.ceil(args.steps * batch / len(train))),
        with_targets=True,
        stage="probe-state",
        tasks=lambda ex, epoch: (args.state,),
        batch_size=batch,
    ).rows
    cfg = TrainConfig(
        method="sft",
        threads=1,
        progress=False,
        logging_steps=10**6,
        save_steps=10**9,
        sft={"lr": args.lr, "batch_size": batch, "max_steps": max(1, args.steps)},
    )
    items = [SimulationItem(e, Full()(e.persona, MaskKey(0, e.id)), args.state) for e in test]
    started = time.perf_counter()

    def right(m) -> float:
        m.eval()
        decoding = Decoding(max_new_tokens_states=32)
        outs = HFSimulator(m, tokenizer, decoding=decoding, inference_task=args.state).generate(items)
        m.train()
        answers = [(parse_output(o, args.state) or "").strip() for o in outs]
        return sum(a == e.states[args.state] for a, e in zip(answers, test, strict=True)) / len(test)

    def report(step: int, m) -> None:
        line = {"step": step, "right": round(right(m), 3), "seconds": round(time.perf_counter() - started)}
        print(json.dumps(line), flush=True)

    class Curve(TrainerCallback):
        def on_step_end(self, _args, state, control, model=None, **kwargs):
            if state.global_step % args.every == 0:
                report(state.global_step, model)

    report(0, model)
    if not args.steps:
        return  # --steps 0: what the checkpoint reads as it is
    with tempfile.TemporaryDirectory() as tmp:
        train_sft(
            model,
            tokenizer,
            rows,
            cfg,
            Path(tmp),
            steps=args.steps,
            max_completion_tokens=40,
            callbacks=[Curve()],
        )


if __name__ == "__main__":
    main()
