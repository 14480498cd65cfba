"""The embedded model: a tokenizer that survives real text, prompts that keep the persona, reload and
generate."""

from __future__ import annotations

import pytest

from personadrop.data.example import Turn
from personadrop.dropout import Full, KeepOnly, MaskKey
from personadrop.models.base import SimulationItem
from personadrop.models.hf import WRITTEN_KEYS, Decoding
from personadrop.models.tiny import PRESETS, build_model
from personadrop.models.tokenizer import build_tokenizer, corpus_texts
from personadrop.prompts import PromptBuilder, simulator_messages
from personadrop.simulators import load_simulator

from trainkit import sft_run, world


@pytest.fixture(scope="module")
def tokenizer():
    train, _ = world()
    return build_tokenizer(corpus_texts(train), vocab_size=600)


def test_tokenizer_round_trips_real_posts_it_never_saw(tokenizer, aita_posts):
    for post in aita_posts.values():
        text = post["post"]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text  # byte-level: emoji, curly quotes and markdown survive


def test_chat_template_prompt_is_a_prefix_of_prompt_plus_reply(tokenizer):
    train, _ = world()
    ex = train[0]
    messages = simulator_messages(ex, Full()(ex.persona, MaskKey(0, ex.id)))
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": ex.response}], tokenize=False
    )
    assert full.startswith(prompt) and full.endswith(ex.response + tokenizer.eos_token)


def test_long_threads_are_cut_from_the_start_and_the_persona_is_kept(tokenizer, aita_posts):
    train, _ = world()
    ex = train[0]
    posts = [p["post"] for p in aita_posts.values()]
    thread = (Turn(speaker="op", content=max(posts, key=len)), Turn(speaker="someone", content=posts[1]))
    ex = ex.model_copy(update={"context": thread})
    visible = KeepOnly(("values", "communication"))(ex.persona, MaskKey(0, ex.id))
    builder = PromptBuilder(tokenizer, max_prompt_tokens=256)
    messages = builder.messages(ex, visible)
    n = len(tokenizer(builder.render(messages), add_special_tokens=False)["input_ids"])
    assert n <= 256
    assert messages[0] == simulator_messages(ex, visible)[0]  # the system prompt (persona) is untouched
    assert messages[-1]["content"].endswith(thread[-1].content[-60:])  # the latest text survives
    assert messages[-1]["content"].startswith(("someone: ... ", "someone: "))


def test_presets_build_models_of_the_documented_shape(tokenizer):
    model = build_model(PRESETS["tiny"], tokenizer)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 128
    assert model.config.vocab_size == len(tokenizer)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_a_trained_checkpoint_reloads_and_generates_deterministically_on_real_posts(
    tmp_path_factory, aita_posts, monkeypatch
):
    run = sft_run(tmp_path_factory.getbasetemp())
    _, test = world()
    sim = load_simulator(run.path, batch_size=4)
    assert sim.inference_task == "response" and sim.decoding.temperature == 0.0
    real = [
        ex.model_copy(update={"context": (Turn(speaker="op", content=p["post"]),)})
        for ex, p in zip(test, list(aita_posts.values())[:6], strict=False)
    ]
    items = [SimulationItem(ex, Full()(ex.persona, MaskKey(0, ex.id))) for ex in [*test[:6], *real]]
    first = sim.generate(items)
    assert len(first) == len(items) and all(isinstance(t, str) for t in first)
    assert sum(t.startswith(("NTA", "YTA")) for t in first[:6]) >= 4  # it learned the world's replies
    sim.decoding = Decoding(**{**sim.decoding.model_dump(), "batch_size": 64, "cache": "dynamic"})
    assert sim.generate(items) == first  # greedy: independent of batching and cache kind
    for chunk in (0, 5):  # whole prompts at once, and prompts read 5 tokens at a time (CPU default: 64)
        sim.decoding = Decoding(**{**sim.decoding.model_dump(), "cache": "static", "prefill_chunk": chunk})
        assert sim.generate(items) == first
    # On a CPU attention reads only the cache slots written so far (a static cache is as long as prompt
    # plus budget from the start: without the cut, every step of a batch reads one key length);
    # SDPA over the whole cache agrees.
    assert sim.model.config._attn_implementation == WRITTEN_KEYS
    import transformers.integrations.sdpa_attention as sdpa

    key_lengths: set[int] = set()
    forward = sdpa.sdpa_attention_forward

    def recording(module, query, key, *args, **kwargs):
        key_lengths.add(key.shape[-2])
        return forward(module, query, key, *args, **kwargs)

    monkeypatch.setattr(sdpa, "sdpa_attention_forward", recording)
    assert sim.generate(items) == first and len(key_lengths) > 10
    monkeypatch.undo()
    sim.model.set_attn_implementation("sdpa")
    assert sim.generate(items) == first


def test_a_prompt_asked_several_times_is_written_once_when_greedy(tmp_path_factory):
    run = sft_run(tmp_path_factory.getbasetemp())
    _, test = world()
    sim = load_simulator(run.path, batch_size=4)
    x, y = (SimulationItem(ex, Full()(ex.persona, MaskKey(0, ex.id))) for ex in test[:2])
    rows: list[int] = []
    generate_batch = sim._generate_batch
    sim._generate_batch = lambda ids, *rest: rows.append(len(ids)) or generate_batch(ids, *rest)
    outputs = sim.generate([x, y, x, x])
    assert sum(rows) == 2 and outputs == [*sim.generate([x, y]), outputs[0], outputs[0]]
    sim.decoding = Decoding(**{**sim.decoding.model_dump(), "temperature": 0.7})
    rows.clear()
    sampled = sim.generate([x, y, x, x])
    assert sum(rows) == 4  # sampled replies are drawn per item
    assert sim.generate([x, x, x]) == [sampled[0], *sampled[2:]]  # from the item, not its neighbours
