"""The state scaffold: a model that loops in its state tags, or would stop before its reply, still ends with
a readable reply; rows that do not write states are left alone."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessorList

from personadrop.models.hf import load_model
from personadrop.models.registry import resolve_model
from personadrop.models.scaffold import StateScaffold, scaffold_for, state_budget, writes_states
from personadrop.prompts import answer_prefix, parse_output


@pytest.fixture(scope="module")
def base():
    model, tokenizer = load_model(resolve_model("world-tiny"), device="cpu")
    return model, tokenizer


class Steer:
    """A stand-in for a badly trained model: pushes its next token toward a fixed cycle of text."""

    def __init__(self, tokenizer, text: str, width: int):
        self.cycle = tokenizer(text, add_special_tokens=False)["input_ids"]
        self.width = width

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.width
        scores[:, self.cycle[step % len(self.cycle)]] += 1000.0
        return scores


def prompts(tokenizer, n: int, task: str = "states+response") -> torch.Tensor:
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "You are HUMAN."}, {"role": "user", "content": "AITA? I left early."}],
        tokenize=False,
        add_generation_prompt=True,
    ) + answer_prefix(task)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return torch.tensor([ids] * n)


def generate(model, tokenizer, input_ids, steer_text: str, *, max_new_tokens=60, rows=None):
    width = input_ids.shape[1]
    scaffold = StateScaffold(
        tokenizer,
        rows if rows is not None else [True] * input_ids.shape[0],
        prompt_width=width,
        max_new_tokens=max_new_tokens,
        state_budget=state_budget(max_new_tokens, 20),
    )
    out = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        logits_processor=LogitsProcessorList([Steer(tokenizer, steer_text, width), scaffold]),
    )
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [answer_prefix("states+response") + t for t in texts], scaffold


def test_a_model_that_repeats_a_state_tag_still_ends_with_a_reply(base):
    model, tokenizer = base
    texts, scaffold = generate(model, tokenizer, prompts(tokenizer, 2), " agree</stance><stance>")
    for text in texts:
        states, _, reply = text.partition("<response>")
        assert states.count("<stance>") == 2  # the repeated tag is where the reply was written in
        assert reply.rstrip().endswith("</response>") and parse_output(text, "states+response"), text  # ends
        assert "<" not in parse_output(text, "states+response")  # the reply holds no tag
    assert scaffold.interventions > 0


def test_a_model_that_would_stop_before_its_reply_writes_one(base):
    model, tokenizer = base
    eos = tokenizer.decode([tokenizer.eos_token_id])
    texts, _ = generate(model, tokenizer, prompts(tokenizer, 1), f" calm</stance>{eos}")
    (text,) = texts
    assert parse_output(text, "states+response"), text  # the end of text was masked until </response>


def test_a_reply_that_runs_out_of_tokens_is_closed_in_time(base):
    model, tokenizer = base
    texts, _ = generate(model, tokenizer, prompts(tokenizer, 1), " yes no maybe", max_new_tokens=30)
    (text,) = texts
    assert text.rstrip().endswith("</response>") and parse_output(text, "states+response"), text


def test_a_reply_that_opens_a_closing_tag_is_closed_as_a_reply(base):
    model, tokenizer = base
    texts, _ = generate(model, tokenizer, prompts(tokenizer, 1), " fine</stance><response>ok</emotion> more")
    (text,) = texts
    reply = parse_output(text, "states+response")
    assert reply and "<" not in reply and text.count("</response>") == 1, text


def test_a_reply_may_end_the_way_the_model_ends_it(base):
    """The tiny tokenizer writes "this.</response>" with a token ".</": the reply's text and the start of its
    closing tag. It stays allowed, and the tag is completed."""
    model, tokenizer = base
    texts, _ = generate(model, tokenizer, prompts(tokenizer, 1), " fine</stance><response>ok.</response>")
    (text,) = texts
    assert parse_output(text, "states+response") == "ok.", text


def test_rows_that_do_not_write_states_are_left_alone(base):
    model, tokenizer = base
    ids = prompts(tokenizer, 2)
    texts, _ = generate(model, tokenizer, ids, " agree</stance><stance>", rows=[True, False])
    assert parse_output(texts[0], "states+response")
    assert "<response>" not in texts[1]  # the unscaffolded row loops, as the model would


def test_which_prompts_ask_for_states_then_reply(base):
    _, tokenizer = base
    assert writes_states("<|assistant|>" + answer_prefix("states+response"))
    assert not writes_states("<|assistant|>" + answer_prefix("stance"))  # one state: "\n<stance>"
    assert not writes_states("<|assistant|>")
    for task, applies in (("states+response", True), ("stance", False), ("response", False)):
        scaffold = scaffold_for(tokenizer, prompts(tokenizer, 1, task), max_new_tokens=40, state_budget=20)
        assert scaffold.applies == [applies], task
