"""Dynamic batching: images from many requests share model runs, on one worker thread.

A server decodes each uploaded image in a thread pool (:meth:`ServedModel.decode`: the checks and
decoders of :mod:`yolo_probs.inputs`, then the fast engines' own preprocessing), hands the decoded
images to :meth:`Batcher.submit` and waits for their futures. One worker thread takes what is
waiting, up to ``max_batch`` images, waits up to ``max_wait_s`` for more while other images are
still being decoded (:meth:`Batcher.expecting`), runs the model once and resolves each image's
future with its :class:`~yolo_probs.core.prediction.Prediction`. The model is only ever called from
that thread, so a backend that is not thread-safe is safe here, and a reload
(:meth:`Batcher.swap`) takes effect between two batches. Nothing here knows about HTTP: the FastAPI
app (:mod:`yolo_probs.serve.app`) and a Ray Serve deployment use the same class.

Each image's logits are its own (the engines and the hook path run images independently), so a
batched record equals the record of the same image alone (tested to 1e-6).

Example:
    >>> import cv2, numpy as np
    >>> from yolo_probs import YoloProbs
    >>> png = cv2.imencode(".png", np.full((32, 32, 3), 200, np.uint8))[1].tobytes()
    >>> with Batcher(YoloProbs("examples/models/digits-yolo26n-cls.pt", device="cpu"), max_batch=8) as batcher:
    ...     records = batcher.predict([("a.png", png), ("b.png", b"not an image")])
    >>> records[0].source, len(records[0].top), type(records[1]).__name__
    ('a.png', 5, 'InputFailure')
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.backends.base import BackendOutput
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import SourceError, YoloProbsError, first_line
from yolo_probs.inputs.fast_decode import decode_for_engine
from yolo_probs.inputs.sources import InputFailure, decode_image

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs

__all__ = ["Announced", "Batcher", "BusyError", "Prepared", "ServedModel"]

log = logging.getLogger("yolo_probs")

Result = Prediction | InputFailure
_STOP = object()


class BusyError(YoloProbsError):
    """The batcher's queue is full (or it has stopped): the caller should answer 503 and let the client retry."""


@dataclass(frozen=True)
class Prepared:
    """One decoded image, ready for its model: ``payload`` is the engine's (1, 3, H, W) float32 batch
    for the fast engines, else the BGR uint8 frame the backend's ``run`` takes."""

    source: str
    payload: Any
    model: ServedModel


class ServedModel:
    """A loaded classifier and how a server feeds it: decode (any thread), run (the worker thread only).

    ``generation`` counts reloads (0 for the first model).
    """

    def __init__(self, clf: YoloProbs, generation: int = 0) -> None:
        self.clf = clf
        self.generation = generation
        self.backend = clf.backend
        self.prepares = callable(getattr(clf.backend, "prepare", None))  # the fast engines preprocess apart
        self.chunk: int | None = getattr(clf.backend, "run_batch", None)
        self.features = clf.wants_features

    def decode(self, data: bytes, source: str) -> Prepared:
        """Decode (and, for the fast engines, preprocess) one encoded image; thread-safe.

        The same decoders ``yolo-probs predict`` uses for files, with their checks: empty and truncated
        files and images above :data:`~yolo_probs.inputs.sources.MAX_IMAGE_PIXELS` raise
        :class:`~yolo_probs.errors.SourceError` naming ``source``.
        """
        if self.prepares:
            return self.frame(decode_for_engine(data, source), source)
        return Prepared(source, decode_image(data, source), self)

    def frame(self, image: Any, source: str) -> Prepared:
        """An image already decoded (a BGR array, or what :func:`decode_for_engine` gives), ready to run."""
        if self.prepares:
            return Prepared(source, self.backend.prepare([image]), self)  # type: ignore[attr-defined]
        return Prepared(source, image, self)

    def run(self, items: Sequence[Prepared]) -> list[Result]:
        """One model run over ``items`` (call from one thread at a time), one result each, in order."""
        if self.prepares:
            tensor = np.concatenate([item.payload for item in items])
            step = max(1, min(self.chunk or len(items), len(items)))
            outs = [
                self.backend.run_tensor(tensor[i : i + step], features=self.features)
                for i in range(0, len(items), step)
            ]
            out = _joined(outs)
        else:
            out = self.backend.run([item.payload for item in items], features=self.features)
        return self.clf.predictions_for(out, [(item.source, None) for item in items])


def _joined(outs: list[BackendOutput]) -> BackendOutput:
    if len(outs) == 1:
        return outs[0]
    features = None if outs[0].features is None else np.concatenate([o.features for o in outs])  # type: ignore[misc]
    return BackendOutput(np.concatenate([o.logits for o in outs]), outs[0].how, features)


@dataclass
class Announced:
    """Images a caller is decoding (see :meth:`Batcher.expecting`)."""

    images: int
    settled: bool = False


@dataclass
class _Job:
    item: Prepared
    future: Future[Result]


class Batcher:
    """Gathers images from concurrent callers into batches for one model, run on one worker thread.

    Args:
        clf: the classifier to serve.
        max_batch: most images per model run.
        max_wait_s: how long the first image of a batch waits for others, while some are announced
            (:meth:`expecting`); with none announced a batch runs at once, so a lone client never waits.
        max_queue: most images waiting; :meth:`submit` raises :class:`BusyError` past it.
        on_batch: called on the worker thread after each run with (images, seconds).
    """

    def __init__(
        self,
        clf: YoloProbs,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.005,
        max_queue: int = 1024,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.on_batch = on_batch
        self._model = ServedModel(clf)
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0  # images queued, not yet taken by the worker
        self._expected = 0  # images being decoded that callers will submit
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def model(self) -> ServedModel:
        """The model new images are decoded for and run on."""
        return self._model

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting(self) -> int:
        """Images queued and not yet taken by the worker."""
        return self._waiting

    def swap(self, model: YoloProbs | ServedModel) -> ServedModel:
        """Serve ``model`` from now on; images already decoded for the old model still run on it."""
        if not isinstance(model, ServedModel):
            model = ServedModel(model, self._model.generation + 1)
        self._model = model
        return model

    # -- the callers' side --
    def start(self) -> Batcher:
        """Start the worker thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="yolo-probs-batcher", daemon=True)
            self._thread.start()
        return self

    @contextlib.contextmanager
    def expecting(self, images: int) -> Iterator[Announced]:
        """Announce ``images`` being decoded, so that a batch waits for them (up to ``max_wait_s``).

        Pass the announcement to :meth:`submit`: it then ends as the images enter the queue, in one
        step, so the worker never waits for images already queued. Leaving the block ends it anyway.
        """
        announced = Announced(images)
        with self._lock:
            self._expected += images
        try:
            yield announced
        finally:
            with self._lock:
                self._settle(announced)

    def _settle(self, announced: Announced | None) -> None:
        if announced is not None and not announced.settled:
            self._expected -= announced.images
            announced.settled = True

    def submit(self, items: Sequence[Prepared], announced: Announced | None = None) -> list[Future[Result]]:
        """Queue decoded images; each future gives its Prediction (or an InputFailure the model caused)."""
        jobs = [_Job(item, Future()) for item in items]
        with self._lock:
            if self._stopping:
                raise BusyError("the server is shutting down; retry on another replica")
            if self._waiting + len(items) > self.max_queue:
                raise BusyError(f"{self._waiting} images are already waiting (the limit is {self.max_queue}); retry")
            self._settle(announced)
            self._waiting += len(items)
            for job in jobs:  # under the lock: the worker sees the images queued and no longer announced at once
                self._jobs.put(job)
        return [job.future for job in jobs]

    def predict(self, images: Sequence[tuple[str, bytes]], timeout: float | None = None) -> list[Result]:
        """Decode ``(source, encoded bytes)`` pairs here, run them through the batches, wait for them.

        A bad image becomes an :class:`InputFailure` in its place; the others are answered.
        """
        model = self.model
        decoded: list[Prepared | InputFailure] = []
        for source, data in images:
            try:
                decoded.append(model.decode(data, source))
            except SourceError as exc:
                decoded.append(InputFailure(exc.source, exc.reason))
        futures = iter(self.start().submit([d for d in decoded if isinstance(d, Prepared)]))
        return [next(futures).result(timeout) if isinstance(d, Prepared) else d for d in decoded]

    def warm(self, model: ServedModel | None = None, timeout: float | None = None) -> None:
        """Run a full batch of synthetic images through ``model`` (default: the current one) on the worker
        thread: engines are built and caches filled before the first request, or before a reload is served."""
        model = model or self.model
        image = np.full((64, 64, 3), 114, np.uint8)
        futures = self.start().submit([model.frame(image, "warm-up") for _ in range(self.max_batch)])
        for future in futures:
            result = future.result(timeout)
            if isinstance(result, InputFailure):
                raise YoloProbsError(f"the model failed on a warm-up image: {result.message}")

    def stop(self, timeout: float | None = 30.0) -> None:
        """Run what is queued, then stop the worker thread; later submissions raise :class:`BusyError`."""
        with self._lock:
            self._stopping = True
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Batcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the worker's side --
    def _loop(self) -> None:
        held: Any = None
        while True:
            first = held if held is not None else self._jobs.get()
            held = None
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                wait = deadline - time.monotonic() if self._expected > 0 else 0.0
                try:
                    job = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
                except queue.Empty:
                    if self._expected > 0 and time.monotonic() < deadline:
                        continue
                    break
                if job is _STOP or job.item.model is not first.item.model:
                    held = job  # a batch runs on one model; a reload's first image starts the next
                    break
                batch.append(job)
            with self._lock:
                self._waiting -= len(batch)
            self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        """Run one batch; whatever goes wrong, every caller gets an answer and the worker goes on.

        A worker that died would leave every later request waiting for its timeout: a server that
        "goes blind" while its process looks alive.
        """
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]  # callers that timed out: skip
        if not live:
            return
        start = time.perf_counter()
        try:
            results = self._results(live)
            for job, result in zip(live, results, strict=True):
                job.future.set_result(result)
        except Exception as exc:  # a bug past the per-image fallback: fail this batch, keep serving
            log.error("a batch of %d images failed: %s", len(live), first_line(exc))
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
        if self.on_batch is not None:
            try:
                self.on_batch(len(live), time.perf_counter() - start)
            except Exception as exc:
                log.error("the batch callback failed: %s", first_line(exc))

    def _results(self, live: list[_Job]) -> list[Result]:
        """The model's results; when a batch fails, each image alone, so one bad image fails only itself."""
        model = live[0].item.model
        try:
            return model.run([job.item for job in live])
        except Exception as exc:
            if len(live) == 1:
                log.warning("the model failed on %s: %s", live[0].item.source, first_line(exc))
                return [InputFailure(live[0].item.source, f"the model failed on it ({first_line(exc)})")]
        return [self._results([job])[0] for job in live]
