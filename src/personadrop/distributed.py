"""One run over several processes (``torchrun`` or ``accelerate launch``): who writes, who waits.

Launched alone, every helper here is a no-op, so the same code trains in one process. Launched with
several, the processes form one accelerate state (gloo on CPUs, NCCL on GPUs); TRL's trainers then split
each batch over them, and only the main process writes run files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from typing import Any


def launched() -> bool:
    """Whether this process is one of several started by a launcher."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@cache
def _state() -> Any:
    import torch
    from accelerate import PartialState

    # Without a GPU, accelerate sees a launched run as several CPU processes (gloo) only when told so.
    return PartialState(cpu=not torch.cuda.is_available())


def world_size() -> int:
    return _state().num_processes if launched() else 1


def rank() -> int:
    return _state().process_index if launched() else 0


def is_main() -> bool:
    return not launched() or _state().is_main_process


def barrier() -> None:
    if launched():
        _state().wait_for_everyone()


@contextmanager
def main_first() -> Iterator[None]:
    """The main process runs the block first (e.g. builds and saves a tokenizer); the others after it."""
    with _state().main_process_first() if launched() else nullcontext():
        yield
