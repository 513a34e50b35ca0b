"""A box calibrator in a profile and on YoloProbs: stored, checked, refused on a classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MODEL
from yolo_probs import YoloProbs
from yolo_probs.api.profile import Profile, load_profile, save_profile
from yolo_probs.calibration.box_base import box_calibrator_from_dict
from yolo_probs.errors import ConfigError


def test_profile_round_trips_its_box_calibrator(tmp_path: Path) -> None:
    cal = {"method": "isotonic", "x": [0.1, 0.5, 0.9], "y": [0.0, 0.3, 0.8]}
    path = save_profile(Profile(model="det.pt", temperature=1.0, box_calibrator=cal), tmp_path / "p.yaml")
    p = load_profile(path, check_model=False)
    assert p.box_calibrator == cal
    assert p.model_kwargs()["box_calibrator"].to_dict() == cal


def test_profile_refuses_a_bad_box_calibrator(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"box_calibrator\.method must be one of temperature, platt"):
        Profile(model="det.pt", temperature=1.0, box_calibrator={"method": "vector"})
    (tmp_path / "p.yaml").write_text(
        "version: 1\nmodel: det.pt\ntemperature: 1.0\nbox_calibrator: {method: platt, a: 0, b: 1}\n"
    )
    with pytest.raises(ConfigError, match="must be > 0"):
        load_profile(tmp_path / "p.yaml", check_model=False)


def test_a_classifier_refuses_a_box_calibrator() -> None:
    cal = box_calibrator_from_dict({"method": "temperature", "temperature": 2.0})
    with pytest.raises(ConfigError, match="box_calibrator applies to detection models; this is a 'classify' model"):
        YoloProbs(MODEL, device="cpu", box_calibrator=cal)
    with pytest.raises(ConfigError, match="box_calibrator must be a box calibrator"):
        YoloProbs("yolov8n.yaml", device="cpu", box_calibrator={"method": "temperature"})
