"""The embedded model's tokenizer: byte-level BPE learned from the training corpus, with a small chat
template.

Byte-level BPE never meets an unknown symbol: any text (emoji, accents, markdown from real posts) falls
back to single bytes, so generation on unseen text cannot fail, and decoding is lossless. The vocabulary
is learned from the texts the model will read and write (personas, threads, replies, states and the task
instructions), so on the synthetic world most words are a single token and sequences stay short.

The chat template marks each turn with a role token and closes it with ``<|end|>``, which is also the
end-of-sequence token: generation stops when the simulated user's turn ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from personadrop.data.example import Example
from personadrop.dropout import Full, MaskKey
from personadrop.errors import ConfigError
from personadrop.prompts import TASKS, system_prompt

PAD, END = "<|pad|>", "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS: tuple[str, ...] = (PAD, END, *ROLE_TOKENS.values())

# Prefix-stable: the prompt with a generation prompt is an exact prefix of prompt + reply, which TRL's
# completion-only loss relies on.
CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}<|system|>"
    "{%- elif m['role'] == 'assistant' -%}<|assistant|>"
    "{%- else -%}<|user|>{%- endif -%}"
    "{{ m['content'] }}<|end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)


def corpus_texts(examples: Iterable[Example]) -> Iterator[str]:
    """Every kind of text the simulator reads or writes, once per example (the persona in full)."""
    seen_posts: set[str] = set()
    visible = Full()
    first = True
    for ex in examples:
        if first:
            # Instructions are constant; one copy of each task's system prompt teaches their words.
            for task in TASKS:
                yield system_prompt(visible(ex.persona, MaskKey(0, ex.id)), task)
            first = False
        yield ex.persona.render()
        for turn in ex.context:
            if turn.is_target or turn.content not in seen_posts:
                seen_posts.add(turn.content)
                yield f"{turn.speaker}: {turn.content}"
        yield ex.response
        if ex.states:
            yield (
                "".join(f"<{k}>{v}</{k}>" for k, v in ex.states.items())
                + f"<response>{ex.response}</response>"
            )


def build_tokenizer(texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2):
    """Learn a byte-level BPE tokenizer from ``texts``; returns a transformers fast tokenizer.

    ``vocab_size`` includes the 256 byte symbols and the special tokens; a small corpus may stop short of it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=END,
        additional_special_tokens=list(ROLE_TOKENS.values()),
        padding_side="left",  # decoder-only generation pads on the left
        model_max_length=100_000,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tokenizer(tokenizer, directory: str | Path) -> Path:
    directory = Path(directory)
    tokenizer.save_pretrained(directory)
    return directory


def load_tokenizer(directory: str | Path):
    """Load a tokenizer saved with :func:`save_tokenizer` (or any local HF tokenizer with a chat template).

    It pads on the left (decoder-only generation), with the end token where a checkpoint has no pad token.
    """
    from transformers import AutoTokenizer

    directory = Path(directory)
    if not (directory / "tokenizer_config.json").is_file():
        raise ConfigError(
            f"{directory} holds no tokenizer (no tokenizer_config.json); give a run directory or a "
            "local Hugging Face checkpoint"
        )
    tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        raise ConfigError(
            f"the tokenizer in {directory} has no chat template; simulators are prompted with chat messages"
        )
    return tok
