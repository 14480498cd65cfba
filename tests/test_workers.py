"""Worker processes: a worker that dies fails the work with a clear error, never a parent that waits."""

from __future__ import annotations

import os
import signal
import time

import pytest

from personadrop.workers import WorkerDied, worker_pool


def _square(x: int) -> int:
    return x * x


def _killed(_: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    return 0


def test_workers_return_results_and_exit_with_the_block():
    with worker_pool(2, 1) as pool:
        assert [f.result(timeout=120) for f in [pool.submit(_square, x) for x in range(5)]] == [
            0,
            1,
            4,
            9,
            16,
        ]


def test_a_killed_worker_raises_worker_died_instead_of_hanging():
    start = time.monotonic()
    with pytest.raises(WorkerDied, match="run the same command again"), worker_pool(2, 1) as pool:
        done = pool.submit(_square, 3)
        assert done.result(timeout=120) == 9
        pool.submit(_killed, 0).result(timeout=120)
    assert time.monotonic() - start < 120  # it failed; it did not wait out the timeout
