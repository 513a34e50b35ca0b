"""One server's state, apart from the web framework: its model, batcher, decoders, metrics and reloads.

:class:`Server` loads the classifier the settings name (a profile's model is checked against its
sha256), warms it, turns uploaded images into JSON records (:meth:`Server.predict`: decoded in a
thread pool, run by the :class:`~yolo_probs.serve.batcher.Batcher`) and reloads the model on request
(:meth:`Server.reload`, which the app calls on SIGHUP), keeping the old one when the new one fails.
:class:`ApiError` is every answer other than 200: a status, a short ``kind`` and a one-line message.

Example:
    >>> import asyncio, cv2, numpy as np
    >>> server = Server(ServeSettings(model="examples/models/digits-yolo26n-cls.pt", max_batch=4,
    ...                               model_options={"device": "cpu"}))
    >>> server.start()
    >>> png = cv2.imencode(".png", cv2.imread("examples/images/digit_3.png"))[1].tobytes()
    >>> records = asyncio.run(server.predict([("digit_3.png", png), ("empty.png", b"")], top_k=1))
    >>> records[0]["top"][0]["name"], records[1]["error"]
    ('3', 'the file is empty (0 bytes); re-copy or re-export it')
    >>> server.stop()
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from yolo_probs._util.console import error, note
from yolo_probs._util.threads import engine_threads
from yolo_probs.api.model import YoloProbs
from yolo_probs.api.monitor import monitor_of
from yolo_probs.api.profile import load_profile
from yolo_probs.backends.ultralytics import DEFAULT_MODEL
from yolo_probs.core.probs import check_min_prob, check_top_k, ranked
from yolo_probs.decisions.monitor import DriftMonitor, MonitorRule
from yolo_probs.errors import ConfigError, ModelError, SourceError, YoloProbsError, first_line
from yolo_probs.inputs.sources import InputFailure
from yolo_probs.serve.batcher import Batcher, BusyError, Prepared, Result, ServedModel
from yolo_probs.serve.metrics import ServeMetrics
from yolo_probs.serve.settings import ServeSettings

__all__ = ["ApiError", "Server", "load_classifier", "record"]


class ApiError(YoloProbsError):
    """An answer other than 200: ``status``, ``kind`` (a word a client can branch on) and the message.

    ``records`` holds the per-image records when the error concerns the images of a request.
    """

    def __init__(self, status: int, kind: str, message: str, records: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.records = status, kind, records

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        body: dict[str, Any] = {"error": str(self), "kind": self.kind}
        if self.records is not None:
            body["records"] = self.records
        return body


def load_classifier(settings: ServeSettings) -> YoloProbs:
    """The classifier ``settings`` name: from the profile (sha256 checked, options on top) or the model.

    The engine is the one given, else the profile's, else ``auto`` (the fastest installed); the batch
    size is ``max_batch`` unless ``model_options`` says otherwise.
    """
    options = {k: v for k, v in settings.model_options.items() if v is not None}
    options.setdefault("batch", settings.max_batch)  # the engines are built (OpenVINO: static shapes) for it
    if settings.profile is not None:
        if "engine" not in options and load_profile(settings.profile, check_model=False).engine is None:
            options["engine"] = "auto"
        clf = YoloProbs.from_profile(settings.profile, model=settings.model, **options)
    else:
        options.setdefault("engine", "auto")
        clf = YoloProbs(settings.model or DEFAULT_MODEL, **options)
    if clf.task != "classify":
        clf.close()
        raise ModelError(
            f"{settings.profile or settings.model} is a {clf.task} model; serve answers for classifiers (one class "
            "distribution per image): use 'yolo-probs predict' or the Python API for its boxes",
            option="model",
        )
    return clf


def _fresh_monitor(clf: YoloProbs) -> DriftMonitor | None:
    """A new drift monitor on the profile's references for the served images, None when the profile has none.

    The classifier's own monitor (fed by its decision rule, warm-up images included) is switched off: the
    server feeds its own, in :class:`~yolo_probs.serve.metrics.ServeMetrics`, which bounds its memory.
    """
    watched = monitor_of(clf)
    if watched is None:
        return None
    for rule in clf.decisions:
        if isinstance(rule, MonitorRule):
            rule.active = False
    return DriftMonitor(watched.entry, alpha=watched.alpha)


def record(result: Result, top_k: int | None = None, min_prob: float | None = None) -> dict[str, Any]:
    """The JSON record of one image: ``predict -f json``'s for a prediction (``top`` re-ranked when a
    request asks for its own ``top_k``/``min_prob``), ``{"source", "error"}`` for a failure."""
    if isinstance(result, InputFailure):
        return {"source": result.source, "error": result.reason}
    if top_k is not None or min_prob is not None:
        k = result.top_k if top_k is None else top_k
        m = result.min_prob if min_prob is None else min_prob
        result = dataclasses.replace(result, top=ranked(result.probs, k, m, result.names), top_k=k, min_prob=m)
    return result.to_dict()


class Server:
    """The model side of ``yolo-probs serve``: :meth:`start`, :meth:`predict`, :meth:`reload`, :meth:`stop`.

    Args:
        settings: the model, batching and limits.
        classifier: an already loaded classifier to serve first (the CLI loads it before binding the
            port, so that a bad model is a usage error); None loads the one ``settings`` name.
    """

    def __init__(self, settings: ServeSettings, classifier: YoloProbs | None = None) -> None:
        self.settings = settings
        self.metrics = ServeMetrics(queue_images=self._queued)
        self.batcher: Batcher | None = None
        self.failure: str | None = None  # why the first model could not be loaded
        self._first = classifier
        self._ready = threading.Event()
        self._reloading = threading.Lock()
        workers = settings.decode_threads or max(1, engine_threads()[1])
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="yolo-probs-serve-decode")

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and warmed, and the batcher's worker is running."""
        return self._ready.is_set() and self.batcher is not None and self.batcher.alive

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the model is loaded and warmed (or failed to load); whether it is ready."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.failure is not None or (deadline is not None and time.monotonic() > deadline):
                return False
        return True

    def _queued(self) -> float:
        return float(self.batcher.waiting if self.batcher is not None else 0)

    def start(self) -> None:
        """Load (unless given) and warm the model, start the batcher; on failure :attr:`failure` says why."""
        s = self.settings
        try:
            clf = self._first if self._first is not None else load_classifier(s)
            self._first = None
            self.batcher = Batcher(
                clf,
                max_batch=s.max_batch,
                max_wait_s=s.max_wait_ms / 1000,
                max_queue=max(s.max_queue, s.max_batch),
                on_batch=self.metrics.observe_batch,
            ).start()
            self.batcher.warm(timeout=max(60.0, s.timeout_s))
            self.metrics.watch(_fresh_monitor(clf))
        except Exception as exc:  # a model that cannot load: /ready says why, the process keeps answering
            self.failure = first_line(exc)
            error(f"the model could not be loaded: {self.failure}")
            return
        self._ready.set()
        self.metrics.ready.set(1)

    def stop(self) -> None:
        """Finish the queued images, stop the batcher and the decoders."""
        self._ready.clear()
        self.metrics.ready.set(0)
        if self.batcher is not None:
            self.batcher.stop()
        self.pool.shutdown(wait=True, cancel_futures=False)

    def reload(self) -> bool:
        """Load the model again (a profile: with its sha256 check), warm it and serve it from now on.

        On any failure the old model keeps serving; either way one line says what happened.
        """
        if self.batcher is None or not self.ready:
            error("reload ignored: the server is not ready yet")
            return False
        with self._reloading:
            what = self.settings.profile or self.settings.model or DEFAULT_MODEL
            try:
                candidate = ServedModel(load_classifier(self.settings), self.batcher.model.generation + 1)
                self.batcher.warm(candidate, timeout=max(60.0, self.settings.timeout_s))
            except Exception as exc:
                self.metrics.reloads.labels("failed").inc()
                error(f"reload of {what} failed, still serving the previous model: {first_line(exc)}")
                return False
            self.batcher.swap(candidate)
            self.metrics.watch(_fresh_monitor(candidate.clf))
            self.metrics.reloads.labels("ok").inc()
            self.metrics.generation.set(candidate.generation)
            note(f"reloaded {what} (model generation {candidate.generation})")
            return True

    def describe(self) -> dict[str, Any]:
        """What ``/ready`` shows: readiness, the model, engine, classes and generation."""
        shown: dict[str, Any] = {"ready": self.ready}
        if self.failure is not None:
            shown["error"] = self.failure
        if self.batcher is not None:
            model = self.batcher.model
            shown |= {
                "model": str(self.settings.profile or self.settings.model or DEFAULT_MODEL),
                "engine": getattr(model.backend, "engine", type(model.backend).__name__),
                "classes": len(model.clf.names),
                "generation": model.generation,
                "max_batch": self.batcher.max_batch,
            }
        return shown

    async def predict(
        self,
        images: list[tuple[str, bytes]],
        *,
        top_k: int | None = None,
        min_prob: float | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """The JSON records of ``(source, encoded bytes)`` images, in order; a bad image gets an error record.

        Raises :class:`ApiError`: 503 before the model is ready or when the queue is full, 504 past
        ``timeout`` seconds (default: the settings' ``timeout_s``), 422 when no image of the request
        could be used, 400 for a bad ``top_k``/``min_prob``.
        """
        try:
            top_k = None if top_k is None else check_top_k(top_k)
            min_prob = check_min_prob(min_prob)
        except ConfigError as exc:
            raise ApiError(400, "bad_parameter", str(exc)) from None
        batcher = self.batcher
        if batcher is None or not self.ready:
            raise ApiError(503, "not_ready", self.failure or "the model is still loading; retry when /ready says so")
        try:
            results = await asyncio.wait_for(self._results(batcher, images), timeout or self.settings.timeout_s)
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"no answer within {self.settings.timeout_s:g} s; the server is overloaded, retry"
            ) from None
        self.metrics.observe_results(results)
        records = [record(r, top_k, min_prob) for r in results]
        failed = [r for r in results if isinstance(r, InputFailure)]
        if failed:
            self.metrics.observe_error("bad_image", len(failed))
        if failed and len(failed) == len(results):
            what = str(failed[0]) if len(failed) == 1 else f"none of the {len(failed)} images could be used"
            raise ApiError(422, "bad_image", what, records)
        return records

    async def _results(self, batcher: Batcher, images: list[tuple[str, bytes]]) -> list[Result]:
        model = batcher.model
        loop = asyncio.get_running_loop()
        with batcher.expecting(len(images)) as announced:
            decoded = await asyncio.gather(
                *(loop.run_in_executor(self.pool, _decoded, model, data, source) for source, data in images)
            )
            try:
                futures = batcher.submit([d for d in decoded if isinstance(d, Prepared)], announced)
            except BusyError as exc:
                raise ApiError(503, "busy", str(exc)) from None
        try:
            done = iter(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))
        except asyncio.CancelledError:
            for future in futures:  # timed out or the client left: images not yet run are skipped
                future.cancel()
            raise
        return [next(done) if isinstance(d, Prepared) else d for d in decoded]


def _decoded(model: ServedModel, data: bytes, source: str) -> Prepared | InputFailure:
    """One image decoded for ``model``, or the failure that names it (a decoder bug included)."""
    try:
        return model.decode(data, source)
    except SourceError as exc:
        return InputFailure(exc.source, exc.reason)
    except Exception as exc:
        return InputFailure(source, f"could not be read ({type(exc).__name__}: {first_line(exc)[:200]})")
