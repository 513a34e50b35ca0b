"""YoloProbs on a detection model: one Detections per image, Ultralytics' boxes with calibrated class distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from tests.detectors import ROOT, detector, images
from yolo_probs import YoloProbs
from yolo_probs.core.boxes import Detections
from yolo_probs.errors import ConfigError


def test_detections_per_image() -> None:
    model = detector("yolov8n.yaml")
    frames = images()
    want = model.predict([f.copy() for f in frames], conf=0.01, imgsz=160, verbose=False)
    with YoloProbs(model, conf=0.01, imgsz=160, temperature=2.0, top_k=3, device="cpu") as yp:
        assert yp.task == "detect"
        got = list(yp.predict_each([*frames, str(ROOT / "missing.png")]))
    assert len(got) == 4 and not isinstance(got[3], Detections) and "missing.png" in str(got[3])
    for ref, d in zip(want, got[:3], strict=True):
        assert isinstance(d, Detections) and len(d) == len(ref.boxes) > 0
        a = d.arrays()
        np.testing.assert_allclose(a["conf"], ref.boxes.conf.numpy(), atol=1e-5)
        assert (a["cls"] == ref.boxes.cls.numpy()).all()
        np.testing.assert_allclose(a["probs"], softmax(a["logits"].astype(np.float64) / 2.0, axis=1), atol=1e-6)
        assert all(len(b.top) == 3 for b in d.boxes) and d.shape == ref.orig_shape


def test_options_on_the_wrong_model() -> None:
    with pytest.raises(ConfigError, match="conf selects detected boxes"):
        YoloProbs(str(ROOT / "examples/models/digits-yolo26n-cls.pt"), conf=0.3)
    with pytest.raises(ConfigError, match="decision rules"):
        YoloProbs("yolov8n.yaml", decisions=[type("R", (), {"apply": lambda self, p, o: p})()])
    with (
        YoloProbs("yolov8n.yaml", device="cpu") as yp,
        pytest.raises(ConfigError, match="smooth applies to classifiers"),
    ):
        yp.predict(str(ROOT / "examples/images/digit_3.png"), smooth=1.0)
