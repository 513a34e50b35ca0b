"""How many threads compute and how many decode: half the cores each, so neither starves the other.

Example:
    >>> engine_threads(2), engine_threads(16)
    ((1, 1), (8, 8))
"""

from __future__ import annotations

import os

__all__ = ["engine_threads"]


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
