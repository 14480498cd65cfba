"""Causal LMs as simulators: load a local Hugging Face checkpoint and generate replies in batches.

Generation is the evaluator's hot loop (tens of thousands of replies per study on two CPU cores), so
:class:`HFSimulator` tokenizes everything at once, sorts prompts by length so a batch carries little
padding, pads on the left, and decodes with a key/value cache (a static one by default: on CPU it avoids
re-copying the whole cache at every step). On a CPU the prompts are read a few tokens at a time
(transformers' chunked prefill): a whole batch of prompts at once has activations too large for the
processor's caches, and reading the prompt was most of the time of a short reply. Attention there reads
only the cache slots written so far (:func:`attention_over_written_keys`), not the whole static cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from personadrop.errors import ConfigError, DataError
from personadrop.limits import MAX_NEW_TOKENS, Seed
from personadrop.models.base import SimulationItem, Simulator
from personadrop.persona import MissingStyle
from personadrop.prompts import PromptBuilder, answer_prefix

RUN_META = "run.json"  # written by personadrop.train in every run directory
MODEL_SUBDIR = "model"


class Decoding(BaseModel):
    """How a simulator writes: sampling settings, lengths and batching."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0.0)  # 0: greedy (deterministic whatever the batching)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    # a reply (training runs record their own, from their data)
    max_new_tokens: int = Field(96, ge=1, le=MAX_NEW_TOKENS)
    # tasks that write latent states (and then a reply)
    max_new_tokens_states: int = Field(192, ge=1, le=MAX_NEW_TOKENS)
    batch_size: int = Field(128, ge=1)
    seed: Seed = 0
    cache: Literal["static", "dynamic"] = "static"
    # Prompt tokens read per forward pass before decoding (0: the whole prompt at once). None: 64 on a CPU,
    # where the same replies took 4-7% less time than with whole prompts (benchmarks/bench_decoding.py on
    # the default study's simulators, one thread), and 0 on a GPU.
    prefill_chunk: int | None = Field(None, ge=0)


def context_budget(config, decoding: Decoding | None = None) -> int | None:
    """Prompt tokens a model (its ``config``) can read and still write its longest answer: its context
    (positions) less the larger reply budget; None where the config names no context. A real row's thread
    (up to ~37,000 characters) is then cut to fit, oldest text first, not overflowing the positions."""
    decoding = decoding or Decoding()
    context = getattr(config, "max_position_embeddings", None)
    if not context:
        return None
    return max(context - max(decoding.max_new_tokens, decoding.max_new_tokens_states), 32)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(path: str | Path, *, device: str | None = None, lora: str | Path | None = None):
    """Load a causal LM and its tokenizer from a local directory (never from a hub); bf16 on a GPU.

    ``lora``: a local peft adapter directory to apply (merged into the weights for fast generation).
    """
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    from personadrop.models.tokenizer import load_tokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        raise ConfigError(
            f"{path} is not a model directory (no config.json); give a run directory or a local checkpoint"
        )
    device = device or default_device()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        if lora is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(lora)).merge_and_unload()
        tokenizer = load_tokenizer(path)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        # A weight file cut short (a full disk, an interrupted copy) fails deep inside the loaders.
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise DataError(
            f"{path}: the checkpoint is corrupt or incomplete ({first}); copy it again, or train it again "
            "into a fresh directory"
        ) from None
    return model.to(device).eval(), tokenizer


def checkpoint_identity(path: str | Path) -> dict[str, str]:
    """A fingerprint of a checkpoint directory: its config and, per weight file, name, size and the hash of
    its first and last MiB (cheap for a 16 GB model, and any retraining changes it)."""
    import hashlib

    path = Path(path)
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".gguf")):
        size = f.stat().st_size
        digest.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            digest.update(fh.read(1 << 20))
    return {"checkpoint": digest.hexdigest()[:16]}


WRITTEN_KEYS = "sdpa_written_keys"  # the attention implementation HFSimulator uses on a CPU


def attention_over_written_keys(module, query, key, value, attention_mask, **kwargs):
    """Transformers' SDPA attention over the key/value slots some query may see, not the whole cache.

    A static cache is as long as prompt plus budget from the first step, and SDPA reads all of it at every
    step, though the mask hides every slot after the newest token. Memory-bound on a CPU, that read was
    about half of decoding. The slots cut off are masked for every query, so the replies are the same
    (held by a test); measured on the default study's simulators, one thread: 11-13% less time for
    SFT-like replies, 3-4% for HumanLM's.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-1] == key.shape[-2]:
        # Slots some query of the step sees (any row, any query: also right for masks that are not causal).
        seen = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
        slots = seen.flatten(0, 2).any(dim=0).nonzero()
        used = int(slots[-1]) + 1 if len(slots) else key.shape[-2]
        if used < key.shape[-2]:
            key, value, attention_mask = key[:, :, :used], value[:, :, :used], attention_mask[..., :used]
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _use_written_keys(model) -> None:
    """A CPU model on SDPA without grouped-query attention switches to :func:`attention_over_written_keys`
    (with SDPA's mask)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    config = model.config
    if model.device.type != "cpu" or getattr(config, "_attn_implementation", None) != "sdpa":
        return  # on a GPU, finding the slots would wait for the device at every layer
    if getattr(config, "num_key_value_heads", None) not in (None, config.num_attention_heads):
        return  # grouped-query attention (SmolLM2): measured slower with the cut (57 s vs 50 s, a test)
    AttentionInterface.register(WRITTEN_KEYS, attention_over_written_keys)
    AttentionMaskInterface.register(WRITTEN_KEYS, sdpa_mask)
    model.set_attn_implementation(WRITTEN_KEYS)


def row_seed(seed: int, *parts: str) -> int:
    """A row's sampling seed: a stable function of the decoding seed and ``parts`` (what the row is)."""
    import hashlib

    digest = hashlib.blake2b("\x1f".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def row_sampler(seeds: Sequence[int], temperature: float, top_k: int, top_p: float):
    """A logits processor that makes greedy decoding sample each row from its own random stream.

    It scales by the temperature, cuts to top-k and top-p as transformers' warpers do, and adds Gumbel
    noise drawn from the row's generator: the greedy token is then a sample of the cut distribution
    (the Gumbel-max trick). A row's reply so depends on its own seed, not on what else shares its batch,
    and requests with different seeds can be generated together.
    """
    import torch
    from transformers import LogitsProcessor

    class RowSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.generators = [torch.Generator().manual_seed(s % 2**64) for s in seeds]

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            scores = scores.float() / temperature
            if top_k and top_k < scores.shape[-1]:
                kth = torch.topk(scores, top_k, dim=-1).values[..., -1:]
                scores = scores.masked_fill(scores < kth, -torch.inf)
            if top_p < 1.0:
                ordered, index = torch.sort(scores, descending=False)
                cut = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
                cut[..., -1:] = False  # the likeliest token always stays
                scores = scores.masked_fill(cut.scatter(1, index, cut), -torch.inf)
            noise = torch.stack(
                [torch.empty(scores.shape[-1]).exponential_(generator=g) for g in self.generators]
            )
            return scores - noise.log().to(scores.device)

    return RowSampler()


class HFSimulator(Simulator):
    """A causal LM that writes the simulated user's turn for each item, in batches."""

    parallel_worthwhile = True

    def __init__(
        self,
        model,
        tokenizer,
        *,
        name: str = "hf",
        decoding: Decoding | None = None,
        max_prompt_tokens: int | None = None,
        missing: MissingStyle = "marker",
        inference_task: str = "response",
    ):
        self.model = model
        _use_written_keys(model)
        self.tokenizer = tokenizer
        self.name = name
        self.decoding = decoding or Decoding()
        if max_prompt_tokens is None:  # a checkpoint without a budget of its own: what its context holds
            max_prompt_tokens = context_budget(model.config, self.decoding)
        self.prompts = PromptBuilder(tokenizer, max_prompt_tokens, missing)
        self.inference_task = inference_task

    def generate(self, items: Sequence[SimulationItem]) -> list[str]:
        import torch

        if not items:
            return []
        d = self.decoding
        asked = [(self.prompts.prompt(it.example, it.visible, it.task), it.task) for it in items]
        # A greedy reply depends on its prompt alone, so a prompt asked several times (with no persona,
        # every user of one post) is written once; sampled replies are drawn per item.
        prompts = list(dict.fromkeys(asked)) if d.temperature == 0 else asked
        ids = self.tokenizer([text for text, _ in prompts], add_special_tokens=False)["input_ids"]
        budgets = [d.max_new_tokens if task == "response" else d.max_new_tokens_states for _, task in prompts]
        # Longest first within each length budget: similar lengths share a batch, so little padding.
        order = sorted(range(len(prompts)), key=lambda i: (budgets[i], len(ids[i])), reverse=True)
        written: list[str] = [""] * len(prompts)
        # A sampled row draws from its own seed: the item's, else one keyed by the example, its prompt and
        # how often the call asked it before (a repeated item is drawn anew), never by its neighbours.
        seeds = [0] * len(prompts)
        if prompts is asked:
            times: dict[tuple[str, str, str], int] = {}
            for i, (it, prompt) in enumerate(zip(items, asked, strict=True)):
                key = (it.example.id, *prompt)
                times[key] = times.get(key, -1) + 1
                seeds[i] = it.seed if it.seed is not None else row_seed(d.seed, *key, str(times[key]))
        with torch.inference_mode():
            start = 0
            while start < len(order):
                budget = budgets[order[start]]
                batch = [i for i in order[start : start + d.batch_size] if budgets[i] == budget]
                start += len(batch)
                states = [prompts[i][1] == "states+response" for i in batch]
                outputs = self._generate_batch(
                    [ids[i] for i in batch], budget, states, [seeds[i] for i in batch]
                )
                for i, text in zip(batch, outputs, strict=True):
                    # the prefilled tag is part of the answer
                    written[i] = (answer_prefix(prompts[i][1]) + text).strip()
        if prompts is asked:
            return written
        reply = dict(zip(prompts, written, strict=True))
        return [reply[key] for key in asked]

    def _generate_batch(
        self,
        batch_ids: list[list[int]],
        max_new_tokens: int,
        states: Sequence[bool] = (),
        seeds: Sequence[int] = (),
    ) -> list[str]:
        """Greedy or sampled continuations of one batch; rows in ``states`` (states-then-reply) follow the
        :class:`~personadrop.models.scaffold.StateScaffold`, and each sampled row draws from its own seed
        in ``seeds``."""
        import torch

        d = self.decoding
        pad = self.tokenizer.pad_token_id
        width = max(len(x) for x in batch_ids)
        # A static cache is allocated for prompt and budget at once: a budget past the model's context
        # would claim memory for positions the model cannot read.
        context = getattr(self.model.config, "max_position_embeddings", None)
        if context:
            max_new_tokens = max(1, min(max_new_tokens, context - width))
        input_ids = torch.full((len(batch_ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, x in enumerate(batch_ids):
            input_ids[row, width - len(x) :] = torch.tensor(x, dtype=torch.long)
            mask[row, width - len(x) :] = 1
        device = self.model.device
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": pad,
            "disable_compile": True,
        }
        if d.cache == "static":
            kwargs["cache_implementation"] = "static"
        chunk = d.prefill_chunk if d.prefill_chunk is not None else (64 if device.type == "cpu" else 0)
        if 0 < chunk < width:
            kwargs["prefill_chunk_size"] = chunk
        # Sampling is done by RowSampler on top of greedy decoding, so transformers' own sampling (one
        # random stream for the whole batch) stays off.
        kwargs.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        processors: list[Any] = []
        if any(states):
            from personadrop.models.scaffold import StateScaffold, state_budget

            processors.append(
                StateScaffold(
                    self.tokenizer,
                    states,
                    prompt_width=width,
                    max_new_tokens=max_new_tokens,
                    state_budget=state_budget(max_new_tokens, d.max_new_tokens),
                )
            )
        if d.temperature > 0:  # after the scaffold: a token it writes in is the only one left to draw
            seeds = list(seeds) or [row_seed(d.seed, str(row)) for row in range(len(batch_ids))]
            processors.append(row_sampler(seeds, d.temperature, d.top_k, d.top_p))
        if processors:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList(processors)
        generated = self.model.generate(
            input_ids=input_ids.to(device), attention_mask=mask.to(device), **kwargs
        )
        return self.tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)
