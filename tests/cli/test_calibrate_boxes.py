"""``yolo-probs calibrate/evaluate DATA.yaml`` on a detector: the box path end to end, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, example
from yolo_probs.api.profile import load_profile
from yolo_probs.cli import main

DET = ROOT / "examples" / "models" / "digits-yolo26n-det.pt"
CLS = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
COMMON = ["--device", "cpu", "--imgsz", "256", "--batch", "16"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("boxes") / "digits-det"
    example("make_detection_data").build_detection_dataset(root, n_train=2, n_val=70, n_test=30, seed=3)
    return root / "data.yaml"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_calibrate_evaluate_predict_with_a_box_profile(data: Path, tmp_path: Path, capsys) -> None:
    profile = tmp_path / "det.yaml"
    code, out, err = run(["calibrate", str(data), "-m", str(DET), "-o", str(profile), "--method", "platt", *COMMON],
                         capsys)  # fmt: skip
    assert code == 0, err
    assert "D-ECE (15 bins)" in out and "LaECE (15 bins)" in out and "mAP50" in out
    p = load_profile(profile)
    assert p.box_calibrator is not None and p.box_calibrator["method"] == "platt" and p.model_sha256
    assert p.calibration is not None and p.calibration["samples"] > 20
    code, out, err = run(["evaluate", str(data), "--profile", str(profile), "-f", "json", *COMMON], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["split"] == "test" and report["method"] == "platt" and report["images"] == 30
    assert set(report["before"]) >= {"ece", "laece", "map50", "nll"}
    assert report["after"]["map50"] == pytest.approx(report["before"]["map50"], abs=1e-12)  # ranking kept
    assert report["boxes"] >= report["correct"] > 0
    image = sorted((data.parent / "images" / "test").glob("*.png"))[0]
    code, out, err = run(["predict", str(image), "--profile", str(profile), "-f", "json", *COMMON[:4]], capsys)
    assert code == 0, err
    boxes = json.loads(out)[0]["boxes"] if out.lstrip().startswith("[") else json.loads(out)["boxes"]
    assert boxes and all(0 <= b["conf_calibrated"] <= 1 for b in boxes)
    code, out, err = run(["predict", str(image), "--profile", str(profile), "-f", "table", *COMMON[:4]], capsys)
    assert code == 0 and f"(calibrated {boxes[0]['conf_calibrated']:.3f})" in out, err


def test_refusals_are_one_line_exit_2(data: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "p.yaml")
    cases = [
        (["calibrate", str(data), "-m", str(CLS), "-o", out], "is a detection data YAML but the model is a 'classify'"),
        (["calibrate", str(data), "-m", "yolov8n.yaml", "-o", out], "differ from the model's 80"),
        (["calibrate", str(data), "-m", str(DET), "-o", out, "--method", "vector"], "'vector' calibrates classifiers"),
        (["calibrate", str(data), "-m", str(DET), "-o", out, "--conformal", "0.1"], "apply to classifiers"),
        (["calibrate", str(ROOT / "examples" / "images"), "-m", str(CLS), "-o", out, "--method", "isotonic"],
         "calibrates box confidences"),
        (["evaluate", str(data), "-m", str(DET), "--split", "nope"], "no split 'nope'"),
    ]  # fmt: skip
    for args, message in cases:
        code, _, err = run([*args, "--device", "cpu"], capsys)
        assert code == 2, (args, err)
        assert message in " ".join(err.split()), err
        assert "Traceback" not in err
    assert not Path(out).exists()
