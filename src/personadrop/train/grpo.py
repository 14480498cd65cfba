"""GRPO from a judge, for both ``grpo`` (the reply task) and ``humanlm`` (seven tasks): one trainer, one
reward.

What differs between the two methods is only the rows they read (see :mod:`personadrop.train.datasets`).
TRL 1.16 already turns a reward of ``None`` into NaN, keeps it out of the group mean and std, and gives it
zero advantage. Zero advantage still leaves the rollout's tokens in the loss normaliser (and in the KL term
when ``beta > 0``), so :class:`MaskedGRPOTrainer` also drops those rollouts from the loss mask: a rollout
the judge failed on is absent from the update, neither rewarded nor punished nor counted.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from personadrop.train.config import TrainConfig
from personadrop.train.sft import device_args, lora_config, merged, use_lean


def _masked_trainer_class():
    import torch
    from trl import GRPOTrainer

    class MaskedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that removes unscored rollouts (every reward NaN) from the loss, not just the
        advantage."""

        #: Tokens the states of a states-then-reply rollout may take (the scaffold of every simulator that
        #: writes latent states); None: no rollout writes states.
        state_budget: int | None = None

        def _generate_single_turn(self, *args, **kwargs):
            if self.state_budget is None:
                return super()._generate_single_turn(*args, **kwargs)
            from transformers import LogitsProcessorList

            from personadrop.models.scaffold import scaffold_for

            model = self.accelerator.unwrap_model(self.model)
            generate = model.generate

            def scaffolded(*a, **kw):  # the rows that ask for states-then-reply follow the scaffold
                scaffold = scaffold_for(
                    self.processing_class,
                    kw["input_ids"],
                    max_new_tokens=self.max_completion_length,
                    state_budget=self.state_budget,
                )
                return generate(*a, logits_processor=LogitsProcessorList([scaffold]), **kw)

            model.generate = scaffolded
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                del model.generate  # the class's own method again

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._unscored = torch.isnan(rewards).all(dim=1)  # over all processes, like the rewards
            return rewards

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            n = out["completion_ids"].size(0)
            start = self.accelerator.process_index * n
            unscored = self._unscored[start : start + n].to(out["completion_mask"].device)
            self.unscored_rollouts = getattr(self, "unscored_rollouts", 0) + int(unscored.sum())
            if unscored.any():
                # TRL multiplies its loss mask by "tool_mask" (1 = tokens the policy is trained on); rows of 0
                # take the rollout out of the loss and of the token count that normalises it.
                keep = (~unscored).to(out["completion_mask"].dtype).unsqueeze(1)
                loss_mask = out.get("tool_mask")
                loss_mask = (
                    keep.expand_as(out["completion_mask"]).clone() if loss_mask is None else loss_mask * keep
                )
                out["tool_mask"] = loss_mask
                out["num_items_in_batch"] = self.accelerator.gather(
                    (out["completion_mask"] * loss_mask).sum()
                ).sum()
            self.last_loss_mask = out["completion_mask"] * out.get("tool_mask", 1)
            return out

        def _get_per_token_logps_and_entropies(
            self,
            model,
            input_ids,
            attention_mask,
            logits_to_keep,
            batch_size=None,
            compute_entropy=False,
            compute_aux_loss=False,
            **rest,
        ):
            if not getattr(self, "lean_logps", False) or model is not self.accelerator.unwrap_model(model):
                # The stock path, also for a model wrapped for several processes (its forward reduces grads).
                return super()._get_per_token_logps_and_entropies(
                    model,
                    input_ids,
                    attention_mask,
                    logits_to_keep,
                    batch_size,
                    compute_entropy,
                    compute_aux_loss,
                    **rest,
                )
            # A plain head: one log-softmax over the completion positions beats TRL's tiled fused head on
            # CPU.
            net = self.accelerator.unwrap_model(model)
            hidden = net.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            states = hidden.last_hidden_state[
                :, -logits_to_keep - 1 : -1
            ]  # positions that predict the completion
            logp = torch.log_softmax(net.get_output_embeddings()(states).float() / self.temperature, dim=-1)
            per_token = logp.gather(-1, input_ids[:, -logits_to_keep:].unsqueeze(-1)).squeeze(-1)
            entropy = -(logp.exp() * logp).sum(-1) if compute_entropy else None
            return per_token, entropy, None

    return MaskedGRPOTrainer


def grpo_steps(rows_per_epoch: int, cfg: TrainConfig, processes: int = 1) -> int:
    """Optimizer steps for ``cfg.grpo.epochs`` (each step takes prompts in every one of ``processes``)."""
    steps = math.ceil(cfg.grpo.epochs * rows_per_epoch / (cfg.grpo.prompts_per_step * processes))
    return max(1, min(steps, cfg.grpo.max_steps or steps))


def make_grpo_trainer(
    model,
    tokenizer,
    dataset,
    reward,
    cfg: TrainConfig,
    out_dir: Path,
    *,
    steps: int,
    max_completion_tokens: int,
    callbacks: list[Any] | None = None,
    state_budget: int | None = None,
):
    """A :class:`MaskedGRPOTrainer` over ``dataset`` (prompt rows with reward columns) and ``reward``.

    ``state_budget``: for a method that writes latent states, the tokens its states may take in a
    states-then-reply rollout (:class:`~personadrop.models.scaffold.StateScaffold`)."""
    from trl import GRPOConfig

    from personadrop.models.vllm import use_vllm

    g = cfg.grpo
    lean = use_lean(model, cfg)
    vllm = {"use_vllm": True, "vllm_mode": "colocate"} if use_vllm(cfg.model.vllm) else {}
    args = GRPOConfig(
        output_dir=str(out_dir),
        max_steps=steps,
        num_train_epochs=1,
        # In TRL's GRPO the per-device batch counts completions: prompts_per_step groups of num_generations.
        per_device_train_batch_size=g.prompts_per_step * g.num_generations,
        steps_per_generation=1,
        num_generations=g.num_generations,
        learning_rate=g.lr,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(5, steps // 10),
        beta=g.beta,
        temperature=g.temperature,
        top_k=0,
        max_completion_length=max_completion_tokens,
        loss_type=g.loss_type,
        shuffle_dataset=False,  # epoch blocks are pre-shuffled and must be read in order
        log_completions=False,
        # A static KV cache avoids re-copying the whole cache at every decoding step on CPU.
        cache_implementation="static" if lean else None,
        **device_args(cfg),
        **vllm,
    )
    cls = _masked_trainer_class()
    trainer = cls(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
        callbacks=callbacks,
    )
    trainer.lean_logps = lean  # a plain output layer (the embedded presets, checkpoints like them)
    trainer.state_budget = state_budget
    return trainer


def train_grpo(trainer, resume: str | bool | None = None):
    """Run a trainer from :func:`make_grpo_trainer`; returns the trained (merged) model."""
    trainer.train(resume_from_checkpoint=resume or None)
    return merged(trainer.model)
