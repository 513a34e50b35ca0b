"""Smoothing in the Python API: predict(..., smooth=SECONDS) on videos, stills and streams."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import IMAGES, MODEL
from tests.overlay.media import make_video
from yolo_probs.api.smoothing import ASSUMED_FPS, SmoothedStream
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ConfigError


@pytest.fixture(scope="module")
def clf():
    from yolo_probs import YoloProbs

    with YoloProbs(MODEL, imgsz=64, device="cpu", top_k=3) as model:
        yield model


def test_video_frames_are_smoothed_by_their_time(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "clip.avi", 25, fps=10.0)  # a new digit every 3 frames (0.3 s)
    raw = clf.predict(str(video))
    smoothed = clf.predict(str(video), smooth=0.15)
    assert len(smoothed) == 25
    for r, s in zip(raw, smoothed, strict=True):
        assert s.raw is not None and np.array_equal(s.raw.probs, r.probs)  # the frame's own, untouched
        assert s.smoothing is not None and s.smoothing.time == pytest.approx(r.frame / 10.0)
    # Right after the change at frame 3 the smoothed label lags the frame's own; 0.1 s later it follows.
    new = raw[3].top1
    assert raw[3].top1 != raw[2].top1 and smoothed[3].top1 == raw[2].top1 and smoothed[4].top1 == new
    assert smoothed[3].probs[new] < raw[3].probs[new]


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, 3601.0, "fast"])
def test_bad_smooth_raises_config_error_at_once(clf, bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^smooth must be a half-life") as info:
        clf.predict(str(IMAGES), smooth=bad, stream=True)  # raised before the generator starts
    assert info.value.option == "smooth"


def test_stills_are_left_alone_with_one_warning(clf) -> None:
    with pytest.warns(UserWarning, match="smoothing does nothing on still images") as caught:
        preds = clf.predict(str(IMAGES), smooth=0.2)
    assert len(caught) == 1 and len(preds) == 6
    assert all(p.raw is None and p.smoothing is None for p in preds)


def _frame(source: str, frame: int) -> Prediction:
    return Prediction.from_logits(np.array([1.0, 0.0]), ("a", "b"), source=source, frame=frame)


def test_stream_times_come_from_the_clock_and_unknown_rates_are_said(tmp_path: Path) -> None:
    notes: list[str] = []
    now = iter([100.0, 100.5])
    stream = SmoothedStream(0.2, note=notes.append, clock=lambda: next(now))
    assert [stream.time(_frame("rtsp://cam/1", i)) for i in range(2)] == [100.0, 100.5]
    no_rate = tmp_path / "unknown.avi"  # not a video OpenCV can open: no frame rate to read
    no_rate.write_bytes(b"not a video")
    assert stream.time(_frame(str(no_rate), 60)) == pytest.approx(60 / ASSUMED_FPS)
    assert stream.time(_frame(str(no_rate), 90)) == pytest.approx(90 / ASSUMED_FPS)
    assert notes == [f"{no_rate}: the video does not say its frame rate; smoothing assumes 30 fps"]


def test_each_source_has_its_own_average(tmp_path: Path) -> None:
    stream = SmoothedStream(10.0, note=lambda _: None, clock=lambda: 0.0)
    a = Prediction.from_logits(np.array([5.0, 0.0]), ("a", "b"), source="0", frame=0)
    b = Prediction.from_logits(np.array([0.0, 5.0]), ("a", "b"), source="1", frame=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stream.step(a).top1 == 0 and stream.step(b).top1 == 1  # never averaged together
