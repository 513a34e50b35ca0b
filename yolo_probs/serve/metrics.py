"""The server's Prometheus metrics, in a registry of its own (two apps in one process never share counts).

Names (all prefixed ``yolo_probs_``): ``requests_total{endpoint,status}``, ``request_seconds``
(histogram, per endpoint), ``images_total{outcome}`` (``ok`` / ``failed``), ``batch_size`` and
``batch_seconds`` (histograms, one observation per model run), ``errors_total{kind}`` (the ``kind``
of each JSON error: ``body_too_large``, ``slow_client``, ``bad_image``...), ``unknown_total`` and
``unknown_rate`` (images flagged unknown, of those with an unknown-input rule), ``set_size`` and
``mean_set_size`` (conformal sets), ``queue_images`` (waiting for the model), ``ready``,
``model_generation`` and ``reloads_total{outcome}``; with a profile that has a drift monitor
(:mod:`yolo_probs.decisions.monitor`, fed the served images since the model was loaded):
``monitor_images``, ``drift`` (1 when its tests find the images unlike the calibration images),
``drift_alarm`` (1 once its stream alarm rang) and ``estimated_accuracy`` (label-free, ATC); it starts
afresh every :data:`MONITOR_WINDOW` images.

Example:
    >>> m = ServeMetrics()
    >>> m.observe_batch(8, 0.01)
    >>> b"yolo_probs_batch_size_count 1.0" in m.render()[0]
    True
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence

from yolo_probs.core.prediction import Prediction
from yolo_probs.decisions.monitor import DriftMonitor
from yolo_probs.errors import YoloProbsError
from yolo_probs.inputs.sources import InputFailure

__all__ = ["MONITOR_WINDOW", "ServeMetrics"]

#: The drift monitor starts afresh after this many served images (its reference ranks grow with each one).
MONITOR_WINDOW = 100_000

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServeMetrics:
    """Counters, histograms and gauges of one server, rendered by :meth:`render` in Prometheus text format."""

    def __init__(self, queue_images: Callable[[], float] | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("yolo_probs_requests", "HTTP requests answered.", ["endpoint", "status"], registry=r)
        self.latency = Histogram(
            "yolo_probs_request_seconds", "Time to answer a request.", ["endpoint"], buckets=_LATENCY, registry=r
        )
        self.images = Counter("yolo_probs_images", "Images received, by outcome.", ["outcome"], registry=r)
        self.batch_size = Histogram("yolo_probs_batch_size", "Images per model run.", buckets=_SIZES, registry=r)
        self.batch_seconds = Histogram(
            "yolo_probs_batch_seconds", "Time of one model run.", buckets=_LATENCY, registry=r
        )
        self.errors = Counter("yolo_probs_errors", "Error answers and failed images, by kind.", ["kind"], registry=r)
        self.unknown = Counter("yolo_probs_unknown", "Images flagged unknown.", registry=r)
        self.unknown_rate = Gauge("yolo_probs_unknown_rate", "Images flagged unknown / images judged.", registry=r)
        self.set_size = Histogram("yolo_probs_set_size", "Conformal set sizes.", buckets=_SIZES, registry=r)
        self.mean_set_size = Gauge("yolo_probs_mean_set_size", "Mean conformal set size.", registry=r)
        self.ready = Gauge("yolo_probs_ready", "1 once the model is loaded and warmed.", registry=r)
        self.generation = Gauge("yolo_probs_model_generation", "Reloads that took effect.", registry=r)
        self.reloads = Counter("yolo_probs_reloads", "Profile reloads, by outcome.", ["outcome"], registry=r)
        queue = Gauge("yolo_probs_queue_images", "Images waiting for the model.", registry=r)
        if queue_images is not None:
            queue.set_function(queue_images)
        self.monitor_images = Gauge("yolo_probs_monitor_images", "Images the drift monitor has seen.", registry=r)
        self.drift = Gauge("yolo_probs_drift", "1 when the drift monitor's tests find drift.", registry=r)
        self.drift_alarm = Gauge("yolo_probs_drift_alarm", "1 once the drift monitor's stream alarm rang.", registry=r)
        self.estimated_accuracy = Gauge(
            "yolo_probs_estimated_accuracy", "Label-free accuracy estimate (ATC) of the served images.", registry=r
        )
        self._lock = threading.Lock()
        self._judged = self._flagged = self._sets = self._members = 0
        self._monitor: DriftMonitor | None = None

    def watch(self, monitor: DriftMonitor | None) -> None:
        """Feed the served images to ``monitor`` from now on (a new one after a reload; None: no monitor)."""
        with self._lock:
            self._monitor = monitor

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """One request answered."""
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_error(self, kind: str, count: int = 1) -> None:
        """``count`` errors of ``kind`` (an error answer, or failed images)."""
        self.errors.labels(kind).inc(count)

    def observe_batch(self, images: int, seconds: float) -> None:
        """One model run (called on the batcher's thread)."""
        self.batch_size.observe(images)
        self.batch_seconds.observe(seconds)

    def observe_results(self, results: Sequence[Prediction | InputFailure]) -> None:
        """The outcome of each image of a request, and its decisions."""
        failed = sum(isinstance(r, InputFailure) for r in results)
        if failed:
            self.images.labels("failed").inc(failed)
        preds = [r for r in results if isinstance(r, Prediction)]
        if preds:
            self.images.labels("ok").inc(len(preds))
        judged = [p for p in preds if p.unknown is not None]
        flagged = sum(bool(p.unknown) for p in judged)
        sizes = [len(p.set) for p in preds if p.set is not None]
        for size in sizes:
            self.set_size.observe(size)
        if flagged:
            self.unknown.inc(flagged)
        with self._lock:
            if self._monitor is not None:
                if self._monitor.images >= MONITOR_WINDOW:  # a new window: memory stays bounded for days
                    self._monitor = DriftMonitor(self._monitor.entry, alpha=self._monitor.alpha)
                for p in preds:
                    with contextlib.suppress(YoloProbsError):  # a prediction the reference does not apply to
                        self._monitor.update(p)
            self._judged += len(judged)
            self._flagged += flagged
            self._sets += len(sizes)
            self._members += sum(sizes)
            if self._judged:
                self.unknown_rate.set(self._flagged / self._judged)
            if self._sets:
                self.mean_set_size.set(self._members / self._sets)

    def render(self) -> tuple[bytes, str]:
        """The metrics in Prometheus text format, and their content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        with self._lock:
            if self._monitor is not None and self._monitor.images:
                report = self._monitor.report()
                self.monitor_images.set(report.images)
                self.drift.set(int(report.drift))
                self.drift_alarm.set(int(self._monitor.alarm))
                if report.estimated_accuracy is not None:
                    self.estimated_accuracy.set(report.estimated_accuracy)
        return generate_latest(self.registry), str(CONTENT_TYPE_LATEST)
