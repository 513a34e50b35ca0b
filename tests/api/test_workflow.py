"""calibrate() and evaluate() read and score labelled images the same way (one shared block in the workflow)."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import shutil
from pathlib import Path

import pytest

from yolo_probs import YoloProbs
from yolo_probs.api.workflow import calibrate, evaluate
from yolo_probs.calibration import TemperatureScaling

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
IMAGES = {"digit_0": "0", "digit_3": "3", "digit_5": "5", "digit_7": "7", "digit_8": "8", "hard_3": "8"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six labelled digits (one of them mislabelled, so a temperature can be fitted) and an empty file."""
    root = tmp_path_factory.mktemp("labelled")
    for image, label in IMAGES.items():
        (root / label).mkdir(exist_ok=True)
        shutil.copy(ROOT / "examples" / "images" / f"{image}.png", root / label)
    (root / "3" / "empty.png").write_bytes(b"")
    return root


def test_calibrate_and_evaluate_score_the_same_images_the_same_way(folder: Path) -> None:
    with YoloProbs(MODEL, device="cpu") as clf:
        fitted = calibrate(clf, folder)
        clf.calibrator = fitted.calibrator
        scored = evaluate(clf, folder)
    assert scored.calibrator is fitted.calibrator and scored.collected.files == fitted.collected.files
    assert scored.before == fitted.before and scored.after == fitted.after
    skipped = "1 of 7 images could not be read and were skipped"
    assert fitted.warnings[0] == scored.warnings[0] == skipped
    # the fit's own warnings (too few samples) are the calibration's only
    assert any(w.startswith("only 6 labelled samples") for w in fitted.warnings)
    assert not any(w.startswith("only 6") for w in scored.warnings)
    assert fitted.details == {} and scored.details == {}


def test_evaluate_scores_the_classifiers_calibrator_against_t_1(folder: Path) -> None:
    with YoloProbs(MODEL, device="cpu", calibrator=TemperatureScaling(2.0)) as clf:
        result = evaluate(clf, folder)
    assert result.before.temperature == 1.0 and result.after.temperature == 2.0
    assert result.after.accuracy == result.before.accuracy  # one temperature never changes the ranking
    assert result.collected.labels.size == 6 and len(result.collected.failures) == 1
