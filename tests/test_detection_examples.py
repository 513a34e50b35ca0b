"""examples/make_detection_data.py and examples/train_detector.py: the data and the training heads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import example
from yolo_probs import YoloProbs
from yolo_probs.core.boxes import Detections
from yolo_probs.inputs.detection_data import load_detection_data


def test_dataset_is_reproducible_and_splits_use_other_backgrounds(tmp_path: Path) -> None:
    make = example("make_detection_data")
    a = make.build_detection_dataset(tmp_path / "a", n_train=3, n_val=2, n_test=2, seed=5)
    b = make.build_detection_dataset(tmp_path / "b", n_train=3, n_val=2, n_test=2, seed=5)
    assert a == b
    for split in ("train", "val", "test"):
        for f in (tmp_path / "a" / "labels" / split).glob("*.txt"):
            assert f.read_text() == (tmp_path / "b" / "labels" / split / f.name).read_text()
    assert not set(make.TRAIN_BACKGROUNDS) & set(make.TEST_BACKGROUNDS)
    data = load_detection_data(tmp_path / "a" / "data.yaml", make.NAMES, "test")
    assert data.ground_truth == a["test"]["boxes"] and data.unlabelled == data.clipped == 0


@pytest.mark.slow
def test_yolov8_and_yolo11_heads_train_one_epoch_and_give_boxes(tmp_path: Path) -> None:
    make, train = example("make_detection_data"), example("train_detector")
    make.build_detection_dataset(tmp_path / "d", n_train=4, n_val=2, n_test=1, seed=0)
    for yaml in ("yolov8n.yaml", "yolo11n.yaml"):
        weights = train.train_detector(
            tmp_path / "d" / "data.yaml", yaml, epochs=1, imgsz=64, out=tmp_path / f"{yaml}.pt"
        )
        with YoloProbs(weights, device="cpu", imgsz=64, conf=1e-4) as det:
            out = det.predict(sorted((tmp_path / "d" / "images" / "val").glob("*.png")))
        assert det.names == tuple(make.NAMES) and all(isinstance(d, Detections) for d in out)
        assert all(b.logits.shape == (10,) for d in out for b in d.boxes)
