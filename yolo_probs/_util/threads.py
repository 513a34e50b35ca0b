"""How many threads compute and how many decode.

With a fast engine half the cores compute and half decode and preprocess, so neither starves the other
(:func:`engine_threads`); the plain batch loop decodes image files in :func:`decode_workers` threads.

Example:
    >>> engine_threads(2), engine_threads(16)
    ((1, 1), (8, 8))
    >>> decode_workers(1)
    1
"""

from __future__ import annotations

import os

__all__ = ["decode_workers", "engine_threads"]


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
