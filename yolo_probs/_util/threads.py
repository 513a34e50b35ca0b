"""How many threads compute and how many decode.

With a fast engine half the cores compute and half decode and preprocess, so neither starves the other
(:func:`engine_threads`); the plain batch loop decodes image files in :func:`decode_workers` threads;
calibration fits run their many small torch operations in :func:`fit_threads` threads
(:func:`torch_threads` sets them for a block).

Example:
    >>> engine_threads(2), engine_threads(16)
    ((1, 1), (8, 8))
    >>> decode_workers(1)
    1
    >>> fit_threads(539 * 10), fit_threads(50_000 * 1_000, cores=16)
    (1, 8)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["SMALL_FIT", "decode_workers", "engine_threads", "fit_threads", "torch_threads"]

#: Logits entries (N x C) up to which a calibration fit runs on one thread: its passes are too small
#: to split, and each one waits for every thread, so extra threads only add waiting (issue 19: on a
#: busy 2-core machine Dirichlet on 348 x 10 logits took 100 s with torch's default threads, 5.6 s
#: with one).
SMALL_FIT = 1_000_000


def engine_threads(cores: int | None = None) -> tuple[int, int]:
    """``(engine intra-op threads, preprocessing workers)`` for ``cores``.

    ``cores`` defaults to the cores this process may run on (``os.sched_getaffinity``, so ``taskset``
    and container cpusets count), else ``os.cpu_count()``. Half the cores compute, the rest decode and
    preprocess, never fewer than one each: an engine with as many threads as cores fights the decoder
    and slows 5-15x whenever another process holds a core.
    """
    if cores is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity else os.cpu_count()
    cores = cores or 1
    intra = max(1, cores // 2)
    return intra, max(1, cores - intra)


def decode_workers(batch: int) -> int:
    """Threads that decode image files ahead of a batch of ``batch`` images (the plain, non-engine path).

    Like Ultralytics' loader: one per core but one, at most 8, for batches of 8 or more; a smaller
    batch decodes in one thread.
    """
    return min(8, max(1, (os.cpu_count() or 1) - 1)) if batch >= 8 else 1


def fit_threads(entries: int, cores: int | None = None) -> int:
    """Threads for a calibration fit on ``entries`` logits: one for small problems, else half the cores.

    Half the cores, as :func:`engine_threads` gives an engine: a fit with as many threads as cores
    slows many times over whenever another process holds a core.
    """
    return 1 if entries <= SMALL_FIT else engine_threads(cores)[0]


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with at most ``threads`` torch intra-op threads; the previous count comes back after.

    Never raises the count: a user's ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` of fewer is kept.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    import torch

    before = torch.get_num_threads()
    if threads >= before:
        yield
        return
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
