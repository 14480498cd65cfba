"""Can the tiny model learn which pair of values a post weighs, and what slows it down?

Trains a fresh `tiny` model on posts of pretraining worlds (seeds 1,000,000+, never a study's) with every
persona field hidden, and prints a learning curve: the share of held-out posts whose generated answer names
the post's two values (the chosen one and the one given up). The answer's position in the text, the prompt
around the post and the learning rate are what changes between runs; the world is not touched.

    python benchmarks/probe_value_pair.py --target reply --prompt protocol --lr 1e-3 --steps 4000

--target  value:    the value state alone ("honesty should come before loyalty")
          sentence: the reply's value sentence alone ("In principle, honesty takes precedence over loyalty.")
          reply:    the whole reply (stance, emotion, value, belief, goal ...), as pretraining sees it
--prompt  bare:     the post's text, then "=>"
          protocol: the exact simulator prompt (system message, persona all Missing, chat template)

The learning rate is constant after a 100-step warm-up, so a late transition is not hidden by a decay.
One torch thread: run two at a time on a 2-core machine at most.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from probe_post_reading import truth  # the same reading of a post's value pair

from personadrop.data.example import Example
from personadrop.data.world.parse import parse_text


def value_pair(example: Example) -> frozenset[str]:
    return truth(example)[1]


def value_sentence(example: Example, pair: frozenset[str]) -> str:
    for sentence in example.response.split(". "):
        low = sentence.lower()
        if all(v in low for v in pair):
            return sentence.rstrip(".") + "."
    raise ValueError(f"{example.id}: no sentence of the reply names both values")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=("value", "sentence", "reply"), default="reply")
    ap.add_argument("--prompt", choices=("bare", "protocol"), default="protocol")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--every", type=int, default=250, help="evaluate every this many steps")
    ap.add_argument("--worlds", type=int, default=4)
    ap.add_argument("--held-out", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from personadrop.dropout import MaskKey, parse_condition
    from personadrop.models.tiny import PRESETS, build_model
    from personadrop.models.tokenizer import build_tokenizer, corpus_texts
    from personadrop.prompts import PromptBuilder, encode
    from personadrop.train.pretrain import pretraining_examples, pretraining_worlds

    torch.set_num_threads(1)
    examples = pretraining_examples(pretraining_worlds(args.worlds, seed=args.seed))
    random.Random(args.seed).shuffle(examples)
    tokenizer = build_tokenizer(corpus_texts(examples), vocab_size=PRESETS["tiny"].vocab_size)
    builder = PromptBuilder(tokenizer, 352)
    hidden = parse_condition("none")

    def prompt(ex: Example) -> str:
        if args.prompt == "bare":
            return " ".join(t.content for t in ex.context) + " =>"
        return builder.prompt(ex, hidden(ex.persona, MaskKey(0, ex.id)))

    def target(ex: Example) -> str:
        if args.target == "value":
            return " " + ex.states["value"]
        if args.target == "sentence":
            return " " + value_sentence(ex, value_pair(ex))
        return " " + ex.response

    held_out, train = examples[: args.held_out], examples[args.held_out :]
    rows = [
        (p, t)
        for p, t in zip(
            encode(tokenizer, [prompt(e) for e in train]),
            encode(tokenizer, [target(e) for e in train]),
            strict=True,
        )
    ]
    tests = list(
        zip(encode(tokenizer, [prompt(e) for e in held_out]), [value_pair(e) for e in held_out], strict=True)
    )
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    model = build_model(PRESETS["tiny"], tokenizer, seed=args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))
    rng = random.Random(args.seed + 1)

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        picked = [rng.choice(rows) for _ in range(args.batch_size)]
        width = max(len(p) + len(t) + 1 for p, t in picked)
        ids = torch.full((len(picked), width), pad)
        labels = torch.full((len(picked), width), -100)
        mask = torch.zeros((len(picked), width), dtype=torch.long)
        for i, (p, t) in enumerate(picked):
            seq = [*p, *t, eos]
            ids[i, : len(seq)] = torch.tensor(seq)
            labels[i, len(p) : len(seq)] = torch.tensor([*t, eos])
            mask[i, : len(seq)] = 1
        return ids, labels, mask

    def pair_named() -> float:
        model.eval()
        hits = 0
        with torch.no_grad():
            for ids, pair in tests:
                x = torch.tensor([ids])
                out = model.generate(x, max_new_tokens=120, do_sample=False, pad_token_id=pad)
                reading = parse_text(tokenizer.decode(out[0, x.shape[1] :], skip_special_tokens=True))
                hits += pair <= (reading.get("winner") | reading.get("loser"))
        model.train()
        return hits / len(tests)

    print(json.dumps({"target": args.target, "prompt": args.prompt, "lr": args.lr, "train_rows": len(rows)}))
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        ids, labels, mask = batch()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % args.every == 0 or step == args.steps:
            print(
                json.dumps(
                    {
                        "step": step,
                        "loss": round(loss.item(), 3),
                        "pair_named": round(pair_named(), 3),
                        "seconds": round(time.perf_counter() - started),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
