"""`yolo-probs export --logits` (`extra_outputs=True`): raw logits and features as extra ONNX outputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from scipy.special import softmax

from yolo_probs import YoloProbs
from yolo_probs.api.profile import save_profile
from yolo_probs.api.workflow import calibrate
from yolo_probs.cli import main
from yolo_probs.decisions.requested import DecisionOptions
from yolo_probs.errors import ConfigError
from yolo_probs.export.exporter import export_folded

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"


@pytest.fixture(scope="module")
def digits(digits_data: Path) -> Path:
    return digits_data


@pytest.fixture(scope="module")
def frames(digits: Path) -> list[np.ndarray]:
    files = sorted((digits / "test").glob("*/*.png"))[::9][:24]
    return [cv2.imread(str(f)) for f in files]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "digits-t2.onnx"
    result = export_folded(str(MODEL), output=out, temperature=2.0, extra_outputs=True)
    assert result.temperature == 2.0 and result.format == "onnx"
    return out


def test_outputs_are_probs_logits_features(exported: Path, frames: list[np.ndarray]) -> None:
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output0", "logits", "features"]
    with YoloProbs(str(MODEL), device="cpu") as pt, YoloProbs(str(exported)) as onnx:
        theirs = list(pt.predict_each(frames, features=True))
        batch = onnx.backend.prepare(frames)  # type: ignore[attr-defined]
        probs, logits, feats = session.run(None, {"images": batch})
        ours = list(onnx.predict_each(frames, features=True))
    pt_logits = np.stack([p.logits for p in theirs]).astype(np.float64)
    # Output 0 is still the calibrated probability (other tools read it), now with the raw logits beside it.
    np.testing.assert_allclose(probs, softmax(pt_logits / 2.0, axis=1), atol=1e-5)
    np.testing.assert_allclose(logits, pt_logits, atol=1e-4)
    assert feats.shape == (len(frames), np.stack([p.features for p in theirs]).shape[1])
    # Through the backend: T=2 reported (not multiplied out again), logits and features as the hook path's.
    assert onnx.calibrator.temperature == 2.0
    assert all(p.logits_source == "output" for p in ours)
    np.testing.assert_allclose(np.stack([p.logits for p in ours]), pt_logits, atol=1e-4)
    np.testing.assert_allclose(np.stack([p.features for p in ours]), np.stack([p.features for p in theirs]), atol=1e-4)
    np.testing.assert_allclose(np.stack([p.probs for p in ours]), softmax(pt_logits / 2.0, axis=1), atol=1e-5)


@pytest.mark.parametrize("score", ["energy", "knn"])
def test_ood_profile_applies_to_the_export(
    score: str, digits: Path, exported: Path, frames: list[np.ndarray], tmp_path: Path
) -> None:
    asked = DecisionOptions(ood_tpr=0.95, ood_score=score)
    with YoloProbs(str(MODEL), device="cpu", batch=32) as clf:
        result = calibrate(clf, digits, decisions=asked.to_workflow())
    profile = tmp_path / "digits.yaml"
    save_profile(result.to_profile(MODEL), profile)
    with YoloProbs.from_profile(profile, device="cpu") as pt:
        theirs = pt.predict(frames)
    # The profile's T is the one fitted; the export must carry the same one for its decisions to apply.
    t = float(result.calibrator.temperature)
    out = tmp_path / "digits.onnx"
    export_folded(str(MODEL), output=out, temperature=t, profile=profile, extra_outputs=True)
    with YoloProbs.from_profile(profile, model=str(out)) as onnx:
        assert isinstance(onnx.backend.folded_temperature, float)  # type: ignore[attr-defined]
        ours = onnx.predict(frames)
    assert all(p.ood_score is not None for p in ours)
    np.testing.assert_allclose([p.ood_score for p in ours], [p.ood_score for p in theirs], atol=1e-3)
    assert [p.unknown for p in ours] == [p.unknown for p in theirs]


def test_cli_flag(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli.onnx"
    assert main(["export", "-m", str(MODEL), "-t", "1.5", "--logits", "-o", str(target)]) == 0
    assert "raw logits and features" in capsys.readouterr().err
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output0", "logits", "features"]
    with YoloProbs(str(target)) as clf:
        assert clf.calibrator.temperature == 1.5
    # Without the flag: one output, as before, and the logits are recovered from it.
    plain = tmp_path / "plain.onnx"
    assert main(["export", "-m", str(MODEL), "-t", "1.5", "-o", str(plain)]) == 0
    assert [o.name for o in ort.InferenceSession(str(plain)).get_outputs()] == ["output0"]


def test_unsupported_combinations_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "m.torchscript"
    assert main(["export", "-m", str(MODEL), "-t", "2", "--logits", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "ONNX exports only" in err and "(--logits)" in err and "Traceback" not in err
    assert not target.exists()
    from yolo_probs.calibration import calibrator_from_dict

    vector = calibrator_from_dict({"method": "vector", "scale": [1.0] * 10, "bias": [0.0] * 10})
    with pytest.raises(ConfigError, match="need temperature scaling"):
        export_folded(str(MODEL), output=tmp_path / "v.onnx", calibrator=vector, extra_outputs=True)
    assert not (tmp_path / "v.onnx").exists()
