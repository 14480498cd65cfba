"""The embedded default simulator: a tiny Llama-style causal LM trained from scratch.

No weights can be downloaded here, so the default model starts from random weights and learns the
synthetic world in about a minute on two CPU cores. Sizes are presets; ``tiny`` is what the study uses.
Costs measured on 2 shared CPU cores (see the training report): forward+backward of a 32 x 400-token
batch and one generated token for a batch of 128 are both dominated by the matrix products below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TinyPreset:
    """Shape of a from-scratch model. ``vocab_size`` is the tokenizer's target size."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int = 1024

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


PRESETS: dict[str, TinyPreset] = {
    # About 0.6M parameters: learns the world's templates in a few hundred steps.
    "tiny": TinyPreset(layers=2, hidden=128, heads=4, intermediate=384, vocab_size=2048),
    # About 4M parameters: 4-6x slower per step; for longer runs.
    "small": TinyPreset(layers=4, hidden=256, heads=4, intermediate=768, vocab_size=4096),
}


def build_model(preset: TinyPreset, tokenizer, seed: int = 0):
    """A freshly initialized ``LlamaForCausalLM`` sized by ``preset`` for ``tokenizer``'s vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=preset.hidden,
        intermediate_size=preset.intermediate,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.heads,
        max_position_embeddings=preset.max_positions,
        tie_word_embeddings=True,  # halves the parameters a tiny model spends on its vocabulary
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        use_cache=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
