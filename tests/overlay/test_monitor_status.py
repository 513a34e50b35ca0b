"""The overlay's status line carries the profile's drift state."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import IMAGES
from tests.overlay.media import MODEL, make_video
from yolo_probs.decisions.monitor import MonitorRule, fit_monitor
from yolo_probs.overlay import OverlayDrawer
from yolo_probs.overlay.loop import run_overlay


class _Recording(OverlayDrawer):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[str | None] = []

    def draw(self, frame: np.ndarray, prediction, **kwargs):  # type: ignore[no-untyped-def]
        self.statuses.append(kwargs.get("status"))
        return super().draw(frame, prediction, **kwargs)


def _rule(conf: np.ndarray) -> MonitorRule:
    entry = fit_monitor(conf, np.ones(conf.size, bool), np.arange(conf.size) % 10, n_classes=10)
    return MonitorRule({**entry, "calibrator": {"method": "temperature", "temperature": 1.0}}, alpha=0.05)


def test_the_status_line_says_drift_when_the_stream_alarm_rings(tmp_path: Path) -> None:
    from yolo_probs.api.model import YoloProbs

    calm = _rule(np.random.default_rng(0).uniform(0.0, 1.0, 300))  # any confidence is typical
    surprised = _rule(np.full(300, 1e-6))  # calibration never this unsure: every image is strange
    video = make_video(tmp_path / "clip.avi", 30, fps=10.0)
    runs = ((calm, str(IMAGES), "digit_0.png  1/6  drift: none in 1 images"),
            (surprised, str(video), "clip.avi  frame 30/30  2.90 s  DRIFT since image "))  # fmt: skip
    with YoloProbs(MODEL, imgsz=64, device="cpu") as clf:
        for rule, source, wanted in runs:
            clf.decisions, drawer = [rule], _Recording()
            run_overlay(clf, source, drawer=drawer, show=False)
            assert any(s is not None and s.startswith(wanted) for s in drawer.statuses), drawer.statuses
