"""Per-box logits captured by index match Ultralytics' own results: boxes, classes and confidences to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from tests.detectors import ROOT, detector, images
from yolo_probs.backends import BackendOptions, resolve_backend
from yolo_probs.backends.identify import ultralytics_task
from yolo_probs.backends.ultralytics_boxes import UltralyticsBoxes, load_detector
from yolo_probs.errors import ConfigError, ModelError

# YOLO26 (end-to-end, no NMS), YOLOv8 and YOLO11 (NMS), and two segmentation heads
YAMLS = ["yolo26n.yaml", "yolov8n.yaml", "yolo11n.yaml", "yolo11n-seg.yaml", "yolo26n-seg.yaml"]


@pytest.mark.parametrize("yaml", YAMLS)
def test_parity_with_ultralytics(yaml: str) -> None:
    model = detector(yaml)
    frames = images()
    # one image at a time (each letterboxed to its own rectangle, as YOLO.predict does), then a mixed batch
    want = [model.predict(f.copy(), conf=0.01, imgsz=160, verbose=False)[0] for f in frames]
    want += model.predict([f.copy() for f in frames], conf=0.01, imgsz=160, verbose=False)
    backend = UltralyticsBoxes(model, BackendOptions(device="cpu", imgsz=160, batch=3), conf=0.01)
    try:
        got = [backend.run_boxes([f])[0] for f in frames] + backend.run_boxes(frames)
    finally:
        backend.close()
    total = 0
    for ref, out in zip(want, got, strict=True):
        n = len(ref.boxes)
        total += n
        assert len(out.result.boxes) == n and out.logits.shape == (n, 80) and out.anchors.shape == (n,)
        np.testing.assert_allclose(out.result.boxes.xyxy.numpy(), ref.boxes.xyxy.numpy(), atol=1e-5)
        cls = ref.boxes.cls.numpy().astype(int)
        assert (out.result.boxes.cls.numpy().astype(int) == cls).all()
        scores = expit(out.logits.astype(np.float64))
        # each box's confidence is the sigmoid of its own class logit, captured by index
        np.testing.assert_allclose(scores[np.arange(n), cls], ref.boxes.conf.numpy(), atol=1e-5)
        if "26" not in yaml:  # NMS heads: one class per anchor, the best one
            assert (scores.argmax(1) == cls).all()
        if ref.masks is not None:
            assert len(ref.masks) == n
    assert total > 20, "the test model should keep boxes"


def test_close_restores_the_predictor() -> None:
    backend = UltralyticsBoxes(detector("yolov8n.yaml"), BackendOptions(device="cpu", imgsz=160), conf=0.01)
    predictor = backend.predictor()
    head = predictor.model.model.model[-1]
    assert "postprocess" in predictor.__dict__
    backend.close()
    assert "postprocess" not in predictor.__dict__ and "get_topk_index" not in head.__dict__
    assert not head._forward_hooks


def test_task_read_without_loading(tmp_path: object) -> None:
    assert ultralytics_task(ROOT / "examples/models/digits-yolo26n-cls.pt") == "classify"
    assert ultralytics_task("yolo11n-seg.yaml") == "segment" and ultralytics_task("yolov8n.yaml") == "detect"
    assert ultralytics_task(ROOT / "README.md") is None


def test_resolved_for_detection_models() -> None:
    backend = resolve_backend("yolov8n.yaml", BackendOptions(device="cpu"))
    assert isinstance(backend, UltralyticsBoxes) and backend.task == "detect" and len(backend.names) == 80
    with pytest.raises(ModelError, match="'classify' model, not a detection"):
        load_detector(str(ROOT / "examples/models/digits-yolo26n-cls.pt"))
    with pytest.raises(ConfigError, match="conf must be a number in"):
        UltralyticsBoxes("yolov8n.yaml", BackendOptions(device="cpu"), conf=2)
