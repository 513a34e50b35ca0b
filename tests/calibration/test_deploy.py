"""Calibrators beyond one temperature in deployment: profile storage (with a file beside it), folded exports
(ONNX Runtime equals the PyTorch path to 1e-5, never applied twice), and ``calibrate --method``."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from yolo_probs import YoloProbs
from yolo_probs.api.profile import Profile, load_profile, save_profile
from yolo_probs.calibration import calibrator_from_dict
from yolo_probs.calibration.dirichlet import DirichletCalibration
from yolo_probs.calibration.ets import EnsembleTemperatureScaling
from yolo_probs.calibration.vector import VectorScaling
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError
from yolo_probs.export.exporter import export_folded
from yolo_probs.inputs.preprocess import Preprocess

ROOT = Path(__file__).resolve().parents[2]
IMAGES = [str(p) for p in sorted((ROOT / "examples" / "images").glob("*.png"))]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"


def fitted(method: str, c: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if method == "vector":
        return VectorScaling(rng.uniform(0.3, 2.0, c), rng.normal(0, 0.5, c))
    if method == "dirichlet":
        return DirichletCalibration(np.eye(c) * 0.7 + rng.normal(0, 0.1, (c, c)), rng.normal(0, 0.3, c))
    return EnsembleTemperatureScaling(1.8, [0.7, 0.2, 0.1])


# --- profiles ---
def test_small_calibrator_stays_in_the_yaml(tmp_path: Path) -> None:
    cal = fitted("vector", 5)
    path = save_profile(Profile(model="m.pt", temperature=1.0, calibrator=cal.to_dict()), tmp_path / "p.yaml")
    assert "scale:" in path.read_text() and not list(tmp_path.glob("*.npz"))
    again = calibrator_from_dict(load_profile(path).calibrator)
    np.testing.assert_array_equal(again.probs(np.eye(5)), cal.probs(np.eye(5)))


def test_large_matrix_goes_to_a_hashed_file_beside_the_profile(tmp_path: Path, monkeypatch) -> None:
    cal = fitted("dirichlet", 20)
    folder = tmp_path / "deploy"
    path = save_profile(Profile(model="m.pt", temperature=1.0, calibrator=cal.to_dict()), folder / "line.yaml")
    text = path.read_text()
    assert "file: line.calibrator.npz" in text and "sha256:" in text and "weights" not in text
    moved = tmp_path / "elsewhere"
    shutil.move(folder, moved)  # profile and file move together; loading resolves the file beside the profile
    monkeypatch.chdir(tmp_path)
    loaded = load_profile(moved / "line.yaml")
    x = np.random.default_rng(1).normal(size=(4, 20))
    np.testing.assert_array_equal(calibrator_from_dict(loaded.calibrator).probs(x), cal.probs(x))
    npz = moved / "line.calibrator.npz"
    data = bytearray(npz.read_bytes())
    data[-30] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="sha256"):
        load_profile(moved / "line.yaml")
    npz.unlink()
    with pytest.raises(ConfigError, match="not found; keep it beside the profile"):
        load_profile(moved / "line.yaml")


# --- exports ---
@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.mark.parametrize("method", ["vector", "dirichlet", "ets"])
def test_folded_onnx_matches_the_pytorch_path(net: torch.nn.Module, tmp_path: Path, method: str) -> None:
    import onnxruntime as ort

    cal = fitted(method, 10)
    pre = Preprocess.imagenet(32)
    result = export_folded(net, output=tmp_path / f"{method}.onnx", calibrator=cal, preprocess=pre)
    assert result.method == method
    batch = pre([__import__("cv2").imread(p) for p in IMAGES])
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": batch})[0]
    with YoloProbs(net, preprocess=pre, calibrator=cal) as torch_path:  # the PyTorch model, calibrated in numpy
        expected = np.stack([p.probs for p in torch_path.predict(IMAGES)])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with YoloProbs(result.path) as exported:  # read back: the folded calibrator is not applied again
        preds = exported.predict(IMAGES)
        assert exported.calibrator.method == method
    np.testing.assert_allclose(np.stack([p.probs for p in preds]), expected, atol=1e-5)
    assert preds[0].to_dict()["calibration"] == method
    # the checkpoint's own profile calibrator is recognised as the folded one; another one is refused
    with YoloProbs(result.path, calibrator=calibrator_from_dict(cal.to_dict())) as same:
        np.testing.assert_allclose(same.predict(IMAGES[0])[0].probs, expected[0], atol=1e-5)
    with pytest.raises(ConfigError, match="calibrate twice"):
        YoloProbs(result.path, calibrator=fitted("vector" if method != "vector" else "dirichlet", 10, seed=3))


def test_folded_torchscript_vector(net: torch.nn.Module, tmp_path: Path) -> None:
    cal = fitted("vector", 10)
    pre = Preprocess.imagenet(32)
    result = export_folded(net, output=tmp_path / "v.torchscript", calibrator=cal, preprocess=pre)
    with YoloProbs(net, preprocess=pre, calibrator=cal) as a, YoloProbs(result.path) as b:
        np.testing.assert_allclose(b.predict(IMAGES[0])[0].probs, a.predict(IMAGES[0])[0].probs, atol=1e-5)


def test_a_temperature_on_a_folded_export_keeps_the_method_in_the_records(
    net: torch.nn.Module, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``predict -m vec.onnx -t 1`` once recorded ``temperature 1.0`` and no calibration for vector probabilities."""
    cal = fitted("vector", 10)
    pre = Preprocess.imagenet(32)
    result = export_folded(net, output=tmp_path / "v.onnx", calibrator=cal, preprocess=pre)
    with YoloProbs(net, preprocess=pre, calibrator=cal) as torch_path:
        expected = torch_path.predict(IMAGES[0])[0].probs
    for t in (1.0, 2.0):
        with YoloProbs(result.path, temperature=t) as clf:
            p = clf.predict(IMAGES[0])[0]
        record = p.to_dict()
        assert record["calibration"] == "vector" and record["temperature"] == t
        assert clf.calibrator.to_dict() == {**cal.to_dict(), "tempered": t}
        tempered = np.exp(np.log(expected.astype(np.float64)) / t)
        np.testing.assert_allclose(p.probs, tempered / tempered.sum(), atol=1e-5)
    capsys.readouterr()
    assert main(["predict", IMAGES[0], "-m", str(result.path), "-t", "1", "-f", "jsonl"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["temperature"] == 1.0 and record["calibration"] == "vector"


# --- CLI ---
@pytest.fixture(scope="module")
def digits(digits_data: Path) -> Path:
    return digits_data


def test_calibrate_method_auto_then_evaluate_and_export(digits: Path, tmp_path: Path, capsys) -> None:
    profile = tmp_path / "auto.yaml"
    common = ["--model", str(MODEL), "--device", "cpu", "--batch", "32"]
    code = main(["calibrate", str(digits), *common, "--method", "auto", "--output", str(profile)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "classwise ECE" in out
    # the shipped model is right on nearly every image: a fold without mistakes makes auto keep temperature
    assert "chosen" in out or "no method is compared" in out
    p = load_profile(profile)
    method = p.calibration["method"]
    assert method in ("temperature", "ets", "vector", "dirichlet")
    assert (p.calibrator or {"method": "temperature"})["method"] == method

    code = main(["evaluate", str(digits), "--profile", str(profile), "--format", "json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and doc["after"]["method"] == method and 0 <= doc["after"]["classwise_ece"] <= 1

    code = main(["calibrate", str(digits), *common, "--method", "vector", "--output", str(tmp_path / "v.yaml")])
    out, err = capsys.readouterr()
    assert code == 0 and "vector" in out
    assert load_profile(tmp_path / "v.yaml").calibrator["method"] == "vector"


def test_calibrate_unknown_method_is_a_usage_error(digits: Path, tmp_path: Path, capsys) -> None:
    code = main(["calibrate", str(digits), "--model", str(MODEL), "--method", "matrix", "-o", str(tmp_path / "x.yaml")])
    _, err = capsys.readouterr()
    assert code == 2 and "matrix" in err


def test_an_accuracy_drop_is_warned_about(digits: Path) -> None:
    from yolo_probs.api.workflow import evaluate

    # a vector calibrator that all but erases class 3: it changes predictions and costs accuracy
    bad = VectorScaling(np.ones(10), np.where(np.arange(10) == 3, -50.0, 0.0))
    with YoloProbs(MODEL, calibrator=bad, device="cpu", batch=32) as clf:
        result = evaluate(clf, digits / "val")
    assert result.after.accuracy < result.before.accuracy
    assert any("lowers accuracy" in w and "vector" in w for w in result.warnings)


@pytest.mark.parametrize("method", ["vector", "dirichlet", "ets"])
def test_export_cli_folds_a_profile_calibrator_into_an_ultralytics_model(tmp_path: Path, method: str, capsys) -> None:
    import onnxruntime as ort

    from yolo_probs._util.hashing import file_sha256

    cal = fitted(method, 10, seed=4)
    profile = save_profile(
        Profile(model=str(MODEL), temperature=1.0, model_sha256=file_sha256(MODEL), calibrator=cal.to_dict()),
        tmp_path / "p.yaml",
    )
    out = tmp_path / "folded.onnx"
    code = main(["export", "--profile", str(profile), "--output", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert f"the {method} calibrator folded into layer" in err and "wrote" not in stdout
    with YoloProbs.from_profile(profile, device="cpu") as torch_path:
        expected = np.stack([p.probs for p in torch_path.predict(IMAGES)])
    with YoloProbs(out) as exported:
        preds = exported.predict(IMAGES)
        batch = exported.backend.preprocess([__import__("cv2").imread(p) for p in IMAGES])  # Ultralytics' transforms
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = np.concatenate([session.run(None, {name: batch[i : i + 1]})[0] for i in range(len(IMAGES))])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.stack([p.probs for p in preds]), expected, atol=1e-5)
    assert {p.calibration for p in preds} == {method}
