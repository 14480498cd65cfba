"""Worker processes for CPU-heavy work (training runs side by side, generation spread over cores).

Small models use two cores better as two one-thread processes than as one two-thread process, so the
study trains and evaluates in such workers. Every worker starts with :func:`worker_init`: one torch thread
(or as many as asked), Ctrl-C ignored (the parent catches it and stops the pool), and death with its parent
(even on ``kill -9``), so no orphan keeps computing. The pool is the standard library's
``ProcessPoolExecutor``: a worker that dies (killed for memory, say) fails the work with
:class:`WorkerDied` instead of leaving the parent waiting for it forever.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from personadrop.errors import PersonadropError


class WorkerDied(PersonadropError):
    """A worker process ended abruptly (killed, or out of memory); finished work is kept."""


def die_with_parent() -> None:
    """Ask Linux to end this process when its parent dies (even by ``kill -9``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def silence_library_bars() -> None:
    """The libraries' own progress bars off in this process (loading weights, writing shards, datasets)."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def worker_init(threads: int | None = 1) -> None:
    """Initializer of every worker: threads, no Ctrl-C, die with the parent, no library bars (the parent
    shows progress)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    silence_library_bars()
    if threads:
        import torch

        torch.set_num_threads(threads)


@contextmanager
def worker_pool(processes: int, threads: int | None = 1) -> Iterator[ProcessPoolExecutor]:
    """A pool of fresh (spawned) worker processes, each set up by :func:`worker_init`, for the block.
    Processes start as work arrives, up to ``processes``.

    A block that ends normally lets the workers finish and exit; one that fails (Ctrl-C included) stops
    them. A worker that dies raises :class:`WorkerDied` in the block (from the future it was running).
    """
    others = set(multiprocessing.active_children())  # children this process had before the pool
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(threads,),
    )
    try:
        yield pool
    except BrokenProcessPool:
        _stop(pool, others)
        raise WorkerDied(
            "a worker process ended abruptly (killed, or out of memory?); what finished is kept: "
            "run the same command again to resume"
        ) from None
    except BaseException:
        _stop(pool, others)
        raise
    pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor, others: set[Any]) -> None:
    """Cancel what has not started and end the pool's workers still running (children in ``others``, which
    this process had before the pool, are left alone)."""
    workers = [p for p in multiprocessing.active_children() if p not in others]
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=10)
