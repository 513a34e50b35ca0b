"""Plugin mode on a YOLO detection object: each result gains per-box probabilities; Ultralytics' own boxes stay."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import softmax

import yolo_probs
from tests.detectors import ROOT, detector

IMAGE = str(ROOT / "examples/images/digit_5.png")


def test_attach_and_detach_on_a_detector() -> None:
    model = detector("yolo26n.yaml")
    want = model.predict(IMAGE, conf=0.01, imgsz=160, verbose=False)[0]
    yolo_probs.attach(model, temperature=1.5)
    r = model.predict(IMAGE, conf=0.01, imgsz=160, verbose=False)[0]
    assert torch.equal(r.boxes.data, want.boxes.data) and len(r.boxes) > 0
    d = r.detections
    assert len(d) == len(r.boxes) and d.temperature == 1.5
    np.testing.assert_allclose(r.boxes.probs.numpy(), softmax(r.boxes.logits.numpy() / 1.5, axis=1), atol=1e-6)
    np.testing.assert_allclose(r.boxes.scores.numpy()[np.arange(len(d)), d.arrays()["cls"]], want.boxes.conf, atol=1e-5)
    yolo_probs.detach(model)
    again = model.predict(IMAGE, conf=0.01, imgsz=160, verbose=False)[0]
    assert not hasattr(again, "detections") and torch.equal(again.boxes.data, want.boxes.data)
