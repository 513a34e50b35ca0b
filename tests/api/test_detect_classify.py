"""Detect, then classify: crops with a margin clipped to the image, the classifier's own answer on each crop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import IMAGES, MODEL
from yolo_probs import DetectThenClassify, YoloProbs
from yolo_probs.api.detect_classify import classify_boxes, crop_box, load_classifier
from yolo_probs.api.profile import Profile, save_profile
from yolo_probs.core.boxes import Detections
from yolo_probs.errors import ConfigError

DIGITS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")


@pytest.fixture(scope="module")
def classifier() -> Iterator[YoloProbs]:
    with YoloProbs(MODEL, top_k=3, batch=8, device="cpu") as clf:
        yield clf


@pytest.fixture(scope="module")
def detector() -> Iterator[YoloProbs]:
    """An untrained yolo26n: its boxes are meaningless, but they exist at a tiny threshold."""
    with YoloProbs("yolo26n.yaml", conf=0.0001, imgsz=64, device="cpu", top_k=3) as det:
        yield det


def _oracle_crop(image: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    """The crop as a plain loop over pixel centres would pick it: grown box, then clipped, at least 1x1."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    gx0, gx1 = np.floor(x0 - margin * (x1 - x0)), np.ceil(x1 + margin * (x1 - x0))
    gy0, gy1 = np.floor(y0 - margin * (y1 - y0)), np.ceil(y1 + margin * (y1 - y0))
    cols = [x for x in range(w) if gx0 <= x < gx1] or [int(min(max(gx0, 0), w - 1))]
    rows = [y for y in range(h) if gy0 <= y < gy1] or [int(min(max(gy0, 0), h - 1))]
    return image[rows][:, cols]


@settings(max_examples=150, deadline=None)
@given(
    st.floats(-50, 250),
    st.floats(-50, 150),
    st.floats(0, 120),
    st.floats(0, 90),
    st.sampled_from([0.0, 0.1, 0.25]),
)
def test_crop_grows_the_box_and_clips_it_to_the_image(x: float, y: float, bw: float, bh: float, margin: float) -> None:
    image = np.arange(100 * 200 * 3, dtype=np.int64).reshape(100, 200, 3)
    got = crop_box(image, (x, y, x + bw, y + bh), margin)
    want = _oracle_crop(image, (x, y, x + bw, y + bh), margin)
    assert got.shape == want.shape and (got == want).all()  # outside the image: the nearest edge pixels
    assert got.shape[0] >= 1 and got.shape[1] >= 1


def test_each_box_gets_the_classifiers_own_prediction_on_its_crop(classifier: YoloProbs) -> None:
    tiles = [cv2.imread(str(IMAGES / f"digit_{d}.png")) for d in (0, 3, 7)]
    image = np.concatenate(tiles, axis=1)  # three digits side by side, 64x192
    xyxy = [[2, 3, 60, 61], [66, 2, 126, 62], [130, 5, 188, 60]]
    d = Detections.from_logits(xyxy, [0.9, 0.8, 0.7], [0, 0, 0], [[2.0]] * 3, ("digit",), shape=(64, 192))
    out = classify_boxes(d, image, classifier, margin=0.1)
    want = classifier.predict([np.ascontiguousarray(crop_box(image, tuple(b), 0.1)) for b in xyxy])
    for box, before, p in zip(out.boxes, d.boxes, want, strict=True):
        assert box.classifier is not None and box.classifier.names == DIGITS
        np.testing.assert_allclose(box.classifier.probs, p.probs, rtol=0, atol=1e-6)
        assert box.classifier.source == d.source
        assert (box.xyxy, box.conf, box.top) == (before.xyxy, before.conf, before.top)  # the box itself is kept
    assert [b.classifier.names[b.classifier.top1] for b in out.boxes if b.classifier] == ["0", "3", "7"]
    assert out.to_dict()["boxes"][1]["classifier"]["top"][0]["name"] == "3"


def test_the_pipeline_keeps_the_detectors_boxes_and_classifies_each(detector: YoloProbs, classifier: YoloProbs) -> None:
    images = [str(IMAGES / "digit_3.png"), str(IMAGES / "hard_3.png")]
    alone = detector.predict(images)
    pipeline = DetectThenClassify(detector, classifier, margin=0.05)
    both = pipeline.predict(images)
    assert pipeline.task == "detect" and pipeline.names == detector.names
    assert len(both) == 2 and all(len(d.boxes) > 0 for d in both)
    for a, b in zip(alone, both, strict=True):
        assert a.source == b.source and len(a.boxes) == len(b.boxes)
        for x, y in zip(a.boxes, b.boxes, strict=True):
            assert x.xyxy == y.xyxy and x.conf == y.conf and np.array_equal(x.probs, y.probs)
            assert y.classifier is not None and y.classifier.names == DIGITS
            assert abs(float(y.classifier.probs.sum()) - 1) < 1e-5


def test_a_bad_input_is_one_failure_and_the_others_are_still_classified(
    detector: YoloProbs, classifier: YoloProbs, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    items = list(DetectThenClassify(detector, classifier).predict_each([str(broken), str(IMAGES / "digit_5.png")]))
    assert [type(i).__name__ for i in items] == ["InputFailure", "Detections"]
    assert all(b.classifier is not None for b in items[1].boxes)  # type: ignore[union-attr]


def test_a_profile_path_gives_a_calibrated_classifier(tmp_path: Path) -> None:
    profile = save_profile(Profile(name="crops", model=str(MODEL), temperature=2.5, top_k=2), tmp_path / "p.yaml")
    with load_classifier(profile) as clf:
        assert clf.temperature == 2.5 and clf.top_k == 2 and clf.task == "classify"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda det, clf: load_classifier("yolo26n.yaml"), "is a 'detect' model; pass an image classifier"),
        (lambda det, clf: load_classifier(det), "is a 'detect' model"),
        (lambda det, clf: load_classifier(3), "classifier must be a YoloProbs"),
        (lambda det, clf: DetectThenClassify(clf, clf), "the model is a 'classify' model"),
        (lambda det, clf: DetectThenClassify(det, clf, margin=-0.1), "margin must be"),
        (lambda det, clf: DetectThenClassify(det, clf, margin=True), "margin must be"),
    ],
)
def test_bad_models_and_options_raise_one_config_error(call, match, detector, classifier) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match) as info:
        call(detector, classifier)
    assert info.value.option in ("classifier", "margin")
