"""vLLM for generation on a GPU: evaluation through a vLLM engine, GRPO rollouts through TRL's vLLM support.

``model.vllm`` says when: ``auto`` (the default) uses vLLM where a CUDA GPU and the ``vllm`` package are
both present, ``true`` requires them (a one-line error otherwise), ``false`` never uses it. On a CPU,
generation stays with transformers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from personadrop.errors import ConfigError
from personadrop.models.base import SimulationItem, Simulator
from personadrop.models.hf import Decoding
from personadrop.prompts import PromptBuilder, answer_prefix

VLLMSetting = Literal["auto"] | bool


def use_vllm(setting: VLLMSetting) -> bool:
    """Whether generation goes through vLLM; ``True`` on a machine that cannot is a :class:`ConfigError`."""
    if setting is False:
        return False
    import torch

    available = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
    if setting is True and not available:
        if not torch.cuda.is_available():
            raise ConfigError("model.vllm needs a CUDA GPU, and this machine has none (set model.vllm: auto)")
        raise ConfigError("model.vllm needs the vllm package: pip install -e '.[vllm]' (on a GPU machine)")
    return available


class VLLMSimulator(Simulator):
    """A checkpoint served by a vLLM engine in this process (one GPU), prompted like every simulator."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        decoding: Decoding,
        max_prompt_tokens: int | None,
        inference_task: str = "response",
        gpu_memory_utilization: float = 0.85,
    ):
        from vllm import LLM

        from personadrop.models.tokenizer import load_tokenizer

        self.name, self.decoding, self.inference_task = name, decoding, inference_task
        self.prompts = PromptBuilder(load_tokenizer(path), max_prompt_tokens)
        self.llm = LLM(
            model=str(path),
            dtype="bfloat16",
            seed=decoding.seed,
            gpu_memory_utilization=gpu_memory_utilization,
        )

    def generate(self, items: Sequence[SimulationItem]) -> list[str]:
        from vllm import SamplingParams

        d = self.decoding
        params = [
            SamplingParams(
                temperature=d.temperature,
                top_p=d.top_p,
                top_k=d.top_k or -1,
                seed=d.seed if it.seed is None else it.seed,
                max_tokens=d.max_new_tokens if it.task == "response" else d.max_new_tokens_states,
            )
            for it in items
        ]
        texts = [self.prompts.prompt(it.example, it.visible, it.task) for it in items]
        outputs = self.llm.generate(texts, sampling_params=params, use_tqdm=False)
        return [
            (answer_prefix(it.task) + out.outputs[0].text).strip()
            for it, out in zip(items, outputs, strict=True)
        ]
