"""Supervised imitation with TRL's SFTTrainer: prompt (masked persona + thread) -> the real reply.

Used alone (the ``sft`` method) and as the warm start of ``grpo`` and ``humanlm``. The dataset arrives as
materialized epoch blocks (see :mod:`personadrop.train.datasets`), so the trainer reads it once, in order,
and the number of steps encodes the (possibly fractional) number of epochs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from personadrop.errors import ConfigError
from personadrop.train.config import TrainConfig


def device_args(cfg: TrainConfig) -> dict[str, Any]:
    """TrainingArguments that depend on the hardware: bf16 on a GPU; plain fp32, no checkpointing on CPU."""
    import torch

    gpu = torch.cuda.is_available()
    return {
        "use_cpu": not gpu,
        "bf16": gpu,
        "fp16": False,
        # Checkpointing only pays off for real checkpoints on a GPU; on CPU it just recomputes.
        "activation_checkpointing": gpu and cfg.model.path is not None,
        "dataloader_num_workers": 0,
        "report_to": cfg.report_to or "none",
        "disable_tqdm": not cfg.progress,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "save_total_limit": 1,
        "save_steps": cfg.save_steps,
        "logging_steps": cfg.logging_steps,
        "logging_first_step": True,
    }


def lora_config(cfg: TrainConfig):
    """The peft adapter config for ``cfg.model.lora`` (None when training every weight)."""
    if cfg.model.lora is None:
        return None
    from peft import LoraConfig

    spec = cfg.model.lora
    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        task_type="CAUSAL_LM",
    )


def sft_steps(rows_per_epoch: int, cfg: TrainConfig, processes: int = 1) -> int:
    """Optimizer steps for ``cfg.sft.epochs`` (each step takes a batch in every one of ``processes``)."""
    steps = math.ceil(cfg.sft.epochs * rows_per_epoch / (cfg.sft.batch_size * processes))
    return max(1, min(steps, cfg.sft.max_steps or steps))


def tokenized_dataset(rows: list[dict[str, Any]], tokenizer, max_length: int):
    """``input_ids`` and ``labels`` (-100 on the prompt) for rows from ``build_rows``, at most ``max_length``.

    A row trains on exactly what inference produces: its prompt text (the chat template's generation
    prompt, then the task's answer prefix) followed by the rest of the target and whatever the template
    writes to close a turn. Templates that add text between the two (Qwen3's empty think block) are
    fine, as no prefix property of the template is assumed. Prompt and reply are tokenized apart and in
    batches (see ``prompts.encode``).
    """
    from datasets import Dataset

    from personadrop.prompts import encode, prefix_in_target

    replies = []
    for i, r in enumerate(rows):
        target, prefix = r["completion"], prefix_in_target(r["task"])
        full = tokenizer.apply_chat_template(
            [*r["messages"], {"role": "assistant", "content": target}], tokenize=False
        )
        at = full.rfind(target)
        if at < 0 or not target.startswith(prefix):
            raise ConfigError(f"the tokenizer's chat template does not render the reply of row {i} verbatim")
        replies.append(target[len(prefix) :] + full[at + len(target) :])
    prompt_ids = encode(tokenizer, [r["prompt"] for r in rows])
    reply_ids = encode(tokenizer, replies)
    input_ids, labels = [], []
    for p_ids, r_ids in zip(prompt_ids, reply_ids, strict=True):
        input_ids.append((p_ids + r_ids)[:max_length])
        labels.append(([-100] * len(p_ids) + r_ids)[:max_length])
    return Dataset.from_dict({"input_ids": input_ids, "labels": labels})


def plain_output_layer(model) -> bool:
    """Whether the model's logits are exactly ``output_layer(decoder(...).last_hidden_state)``.

    True of Llama/Qwen/Mistral-style heads (the embedded presets, SmolLM2, checkpoints saved from them);
    false where the forward scales or soft-caps logits (Gemma 2, Cohere, Granite, ...) or the model has
    no separate decoder. Checked numerically on a few tokens, so no list of architectures is kept.
    """
    import torch

    try:
        decoder, head = model.get_decoder(), model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return False
    if decoder is None or head is None or decoder is model:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            ids = torch.arange(3, 11, device=device).remainder(model.config.vocab_size).unsqueeze(0)
            full = model(input_ids=ids, use_cache=False).logits.float()
            lean = head(decoder(input_ids=ids, use_cache=False).last_hidden_state).float()
        return full.shape == lean.shape and torch.allclose(full, lean, rtol=1e-3, atol=1e-3)
    except Exception:  # an architecture whose pieces do not compose this way: use the stock loss
        return False
    finally:
        model.train(was_training)


def use_lean(model, cfg: TrainConfig) -> bool:
    """The lean losses (SFT reply-token cross-entropy, GRPO log-probs) serve full fine-tuning of a plain head.

    With LoRA, peft wraps the model and TRL's own path stays in charge.
    """
    return cfg.model.lora is None and plain_output_layer(model)


def _lean_sft_trainer_class():
    """SFTTrainer with a plain cross-entropy on the reply tokens, for models with a plain output layer.

    TRL's stock loss runs the output layer over every position (the prompt included, several times the
    reply tokens here) and then computes per-token entropy and top-1 accuracy over all of them for its
    logs; without Triton those run as tiled torch code. Here the backbone's hidden states at reply
    positions go through the output layer once, and the loss is their mean cross-entropy.
    """
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    class LeanSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model is not self.accelerator.unwrap_model(model):
                # Wrapped for several processes (DDP, FSDP): the wrapper's own forward must run, so that
                # gradients are reduced across processes; the stock loss does that.
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs["labels"][:, 1:]
            hidden = model.get_decoder()(
                input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False
            ).last_hidden_state[:, :-1]
            scored = labels != -100
            logits = model.get_output_embeddings()(hidden[scored])
            loss = F.cross_entropy(logits.float(), labels[scored])
            if return_outputs:
                return loss, {"loss": loss}
            mode = "train" if model.training else "eval"
            with torch.no_grad():
                accuracy = (logits.argmax(-1) == labels[scored]).float().mean().item()
            self._metrics[mode]["mean_token_accuracy"].append(accuracy)
            return loss

    return LeanSFTTrainer


def train_sft(
    model,
    tokenizer,
    rows: list[dict[str, Any]],
    cfg: TrainConfig,
    out_dir: Path,
    *,
    steps: int,
    max_completion_tokens: int,
    callbacks: list[Any] | None = None,
    resume: str | bool | None = None,
):
    """Train ``model`` on ``rows`` (prompt/completion chat rows) for ``steps`` steps; returns the trained
    model.

    LoRA adapters, when configured, are merged back so later stages and generation see one plain model.
    """
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out_dir),
        max_steps=steps,
        num_train_epochs=1,
        per_device_train_batch_size=cfg.sft.batch_size,
        learning_rate=cfg.sft.lr,
        lr_scheduler_type="cosine",
        warmup_steps=max(0, round(cfg.sft.warmup_ratio * steps)),
        weight_decay=cfg.sft.weight_decay,
        max_length=None,  # rows arrive tokenized and cut to length (see tokenized_dataset)
        shuffle_dataset=False,
        train_sampling_strategy="sequential",  # epoch blocks are already shuffled, and must stay in order
        **device_args(cfg),
    )
    # The lean loss assumes a plain output layer: checked on the model itself, whatever its origin.
    trainer_class = _lean_sft_trainer_class() if use_lean(model, cfg) else SFTTrainer
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=tokenized_dataset(rows, tokenizer, cfg.max_prompt_tokens + max_completion_tokens + 16),
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=resume or None)
    return merged(trainer.model)


def merged(model):
    """The plain model behind a peft wrapper (adapters merged), or ``model`` itself."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model
