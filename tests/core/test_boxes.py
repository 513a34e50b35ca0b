"""Box and Detections: the numbers against scipy, the records, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

from yolo_probs.core.boxes import Box, Detections
from yolo_probs.errors import ConfigError

NAMES = ("cat", "dog", "owl", "fox")


def make(n: int = 5, seed: int = 0, **kwargs: object) -> tuple[Detections, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, len(NAMES))).astype(np.float32)
    xyxy = np.sort(rng.uniform(0, 100, (n, 2, 2)), axis=1).reshape(n, 4)
    cls = logits.argmax(1)
    conf = expit(logits.max(1).astype(np.float64))
    arrays = {"xyxy": xyxy, "conf": conf, "cls": cls, "logits": logits}
    return Detections.from_logits(xyxy, conf, cls, logits, NAMES, shape=(100, 120), **kwargs), arrays  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("t", [0.5, 1.0, 2.7])
def test_numbers_match_scipy(seed: int, t: float) -> None:
    d, a = make(7, seed, temperature=t, top_k=3)
    want_probs = softmax(a["logits"].astype(np.float64) / t, axis=1)
    want_scores = expit(a["logits"].astype(np.float64))
    for i, b in enumerate(d.boxes):
        assert b.index == i and b.cls == a["cls"][i] and b.conf == pytest.approx(a["conf"][i])
        np.testing.assert_allclose(b.probs, want_probs[i], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b.scores, want_scores[i], rtol=1e-5, atol=1e-7)
        order = np.argsort(-want_probs[i], kind="stable")[:3]
        assert [c.index for c in b.top] == order.tolist()
        assert b.top1 == order[0] and b.top1conf == pytest.approx(want_probs[i, order[0]], rel=1e-5)
    arrays = d.arrays()
    np.testing.assert_allclose(arrays["probs"], want_probs, rtol=1e-5, atol=1e-7)
    # with_temperature re-makes the distribution only
    d2 = d.with_temperature(3.0)
    np.testing.assert_allclose(d2.arrays()["probs"], softmax(a["logits"] / 3.0, axis=1), rtol=1e-5, atol=1e-7)
    assert [b.conf for b in d2.boxes] == [b.conf for b in d.boxes]


def test_records() -> None:
    d, _ = make(2, top_k=2, source="a.jpg", frame=4)
    rec = d.to_dict()
    assert rec["source"] == "a.jpg" and rec["frame"] == 4 and rec["task"] == "detect" and rec["shape"] == [100, 120]
    box = rec["boxes"][0]
    assert set(box) == {"index", "xyxy", "conf", "cls", "name", "top"}
    assert len(box["top"]) == 2 and set(box["top"][0]) == {"index", "name", "prob"} and box["name"] in NAMES
    full = d.to_dict(logits=True, scores=True)["boxes"][1]
    assert len(full["logits"]) == 4 and len(full["scores"]) == 4
    from dataclasses import replace

    b = replace(d.boxes[0], conf_calibrated=0.4)
    assert b.to_dict()["conf_calibrated"] == 0.4


def test_calibrator_is_used() -> None:
    from yolo_probs.calibration import TemperatureScaling

    d, a = make(3, calibrator=TemperatureScaling(2.0))
    np.testing.assert_allclose(d.arrays()["probs"], softmax(a["logits"] / 2.0, axis=1), rtol=1e-5, atol=1e-7)
    assert d.temperature == 2.0


def test_no_boxes() -> None:
    d = Detections.from_logits(np.zeros((0, 4)), [], [], np.zeros((0, 4)), NAMES)
    assert len(d) == 0 and d.to_dict()["boxes"] == [] and d.arrays()["probs"].shape == (0, 4)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"logits": [[np.nan, 0, 0, 0]]}, "NaN"),
        ({"logits": [1.0, 2.0]}, "(N, C)"),
        ({"xyxy": [[0, 0, 1]]}, "xyxy"),
        ({"conf": [0.5, 0.5]}, "conf"),
        ({"names": ("a",)}, "names"),
        ({"temperature": 0}, "temperature"),
        ({"task": "pose"}, "task"),
        ({"cls_": [7]}, "class indices in [0, 4)"),
        ({"conf": [1.5]}, "conf"),
    ],
)
def test_bad_input(change: dict[str, object], words: str) -> None:
    args: dict[str, object] = {
        "xyxy": [[0, 0, 1, 1]], "conf": [0.5], "cls_": [0], "logits": [[1.0, 0, 0, 0]], "names": NAMES,
    }  # fmt: skip
    args.update(change)
    with pytest.raises(ConfigError, match=None) as info:
        kw = {k: v for k, v in args.items() if k in ("temperature", "task")}
        Detections.from_logits(args["xyxy"], args["conf"], args["cls_"], args["logits"], args["names"], **kw)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_box_checks_shapes() -> None:
    with pytest.raises(ConfigError, match="one shape"):
        Box(0, (0, 0, 1, 1), 0.5, 0, ("a", "b"), np.zeros(2), np.zeros(3), np.zeros(2))
