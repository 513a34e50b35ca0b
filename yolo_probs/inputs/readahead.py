"""Overlap decoding and preprocessing with inference, for backends that can preprocess on their own.

A backend with a ``prepare(images) -> batch`` method (the fast engines) lets :func:`pipelined` split
the work into three threads: a reader thread decodes frames (:func:`~yolo_probs.inputs.sources.iter_frames`,
with the backend's own ``read`` if it has one) and preprocesses whole batches, an engine thread runs
the model on the batch before, and the calling thread turns the outputs before that into results.
Thread counts come from :func:`~yolo_probs._util.threads.engine_threads`: on 2 cores, one thread
reads while the engine computes on one intra-op thread, so neither fights the other for a core
(the caller's share is small). With more cores, batches are preprocessed by a small pool. Outputs
keep the input order, a bad input comes out as an :class:`~yolo_probs.inputs.sources.InputFailure` in its
place, and at most ``depth`` prepared batches and 2 outputs wait in memory (plus one batch in the
hands of each thread), so an endless stream runs in flat memory.

Example:
    >>> import numpy as np
    >>> class Mean:  # a toy backend: one "logit" per image, its mean pixel
    ...     def prepare(self, images):
    ...         return np.stack([im.mean(axis=(0, 1)) for im in images]).astype(np.float32)
    ...     def run_tensor(self, batch, *, features=False):
    ...         return batch
    >>> frames = [np.full((4, 4, 3), v, np.uint8) for v in (1, 2, 3)]
    >>> outs = list(pipelined(Mean(), frames, batch=2))
    >>> [(out[:, 0].tolist(), [src for src, _ in meta]) for out, meta in outs]
    [([1.0, 2.0], ['image0', 'image1']), ([3.0], ['image2'])]
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from yolo_probs._util.prefetch import prefetched
from yolo_probs._util.threads import engine_threads
from yolo_probs.inputs.sources import Frame, InputFailure, frame_batches, iter_frames, read_image

__all__ = ["pipelined"]

Meta = list[tuple[str, int | None]]


def pipelined(
    backend: Any,
    source: Any,
    *,
    batch: int,
    features: bool = False,
    workers: int | None = None,
    depth: int | None = None,
) -> Generator[tuple[Any, Meta] | InputFailure, None, None]:
    """Yield ``(output, [(source, frame), ...])`` per batch and failures in place, in input order.

    Args:
        backend: has ``prepare(images)`` (thread-safe) and ``run_tensor(batch, features=...)``, and
            may have ``read(path)``, which then decodes image files for its ``prepare`` (the fast
            engines hand plain JPEGs to Pillow, see :mod:`yolo_probs.inputs.fast_decode`).
        source: what :func:`~yolo_probs.inputs.sources.iter_frames` accepts.
        batch: images per batch; a failure ends the batch before it, as in the sequential loop. A
            backend with a smaller ``run_batch`` (ONNX Runtime: 2) gets batches of that size: the
            pipeline then fills and drains sooner, and the records are the same.
        features: ask the backend for features too.
        workers: preprocessing threads (default: from the core count).
        depth: batches read ahead (default: ``2 * workers``, and at least 16 images' worth, which
            smooths out slow frames; a few MB at imgsz 224).
    """
    batch = min(batch, getattr(backend, "run_batch", None) or batch)
    workers = workers or engine_threads()[1]
    depth = depth or max(2 * workers, -(-16 // batch))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="yolo-probs-prepare") if workers > 1 else None
    frames = iter_frames(source, workers=workers, read=getattr(backend, "read", read_image))
    ahead = prefetched(_prepared(backend, frame_batches(frames, batch), pool), depth=depth)  # the reader thread
    # The engine runs in a thread of its own, so the caller's work on each output (softmax, top-k,
    # writing records) overlaps the next forward instead of delaying it.
    outputs = prefetched(_run(backend, ahead, features), depth=2)
    try:
        yield from outputs
    finally:
        outputs.close()  # stops the engine thread, which stops the reader
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _prepare(backend: Any, frames: list[Frame]) -> tuple[Any, Meta]:
    return backend.prepare([f.image for f in frames]), [(f.source, f.frame) for f in frames]


def _prepared(
    backend: Any, batches: Iterator[list[Frame] | InputFailure], pool: ThreadPoolExecutor | None
) -> Iterator[Future[tuple[Any, Meta]] | tuple[Any, Meta] | InputFailure]:
    """Each batch prepared (handed to ``pool`` when there is one), each failure as it is."""
    for group in batches:
        if isinstance(group, InputFailure):
            yield group
        else:
            yield pool.submit(_prepare, backend, group) if pool else _prepare(backend, group)


def _run(
    backend: Any,
    ahead: Generator[Future[tuple[Any, Meta]] | tuple[Any, Meta] | InputFailure, None, None],
    features: bool,
) -> Iterator[tuple[Any, Meta] | InputFailure]:
    """The backend's output for each prepared batch, each failure as it is; closing it stops the reader."""
    try:
        for item in ahead:
            if isinstance(item, InputFailure):
                yield item
                continue
            tensor, meta = item.result() if isinstance(item, Future) else item
            yield backend.run_tensor(tensor, features=features), meta
    finally:
        ahead.close()  # stops the reader thread
