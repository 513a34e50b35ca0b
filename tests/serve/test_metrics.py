"""The server's drift-monitor gauges: fed the served predictions, restarted every MONITOR_WINDOW images."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_probs.core.prediction import Prediction
from yolo_probs.decisions.monitor import DriftMonitor, fit_monitor
from yolo_probs.serve import metrics as serve_metrics
from yolo_probs.serve.metrics import ServeMetrics


def _monitor() -> DriftMonitor:
    rng = np.random.default_rng(0)
    conf = rng.beta(8, 1, 400)
    entry = fit_monitor(conf, conf > 0.6, rng.integers(0, 2, 400), n_classes=2)
    return DriftMonitor({**entry, "calibrator": {"method": "temperature", "temperature": 1.0}})


def _values(m: ServeMetrics) -> dict[str, float]:
    text = m.render()[0].decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_the_monitor_is_fed_and_restarts_after_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_metrics, "MONITOR_WINDOW", 10)
    m = ServeMetrics()
    m.watch(_monitor())
    preds = [Prediction.from_logits([3.0, 0.0], ("a", "b")) for _ in range(7)]
    m.observe_results(preds)
    assert _values(m)["yolo_probs_monitor_images"] == 7
    m.observe_results(preds)  # 14 > 10: the window was full before this request, so it starts afresh
    assert _values(m)["yolo_probs_monitor_images"] == 14
    m.observe_results(preds)
    assert _values(m)["yolo_probs_monitor_images"] == 7  # a new window: memory stays bounded
    assert _values(m)["yolo_probs_drift"] in (0, 1)
