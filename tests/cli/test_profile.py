"""`--profile` on predict, overlay and export: the profile's values apply, explicit flags override them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from yolo_probs._util.hashing import file_sha256
from yolo_probs.api.profile import Profile, save_profile
from yolo_probs.cli import main


@pytest.fixture
def profile(tmp_path, model_path):
    return save_profile(
        Profile(model=str(model_path), temperature=2.5, top_k=2, model_sha256=file_sha256(model_path), name="test"),
        tmp_path / "deploy.yaml",
    )


def test_predict_uses_the_profile_and_flags_override_it(capsys, profile, image_paths):
    assert main(["predict", str(image_paths[0]), "--profile", str(profile), "-f", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["temperature"] == 2.5 and len(record["top"]) == 2
    assert main(["predict", str(image_paths[0]), "-p", str(profile), "-t", "0.5", "-k", "3", "-f", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["temperature"] == 0.5 and len(record["top"]) == 3


def test_predict_refuses_a_profile_whose_model_changed(capsys, tmp_path, model_path, image_paths):
    copy = tmp_path / "model.pt"
    copy.write_bytes(model_path.read_bytes())
    target = save_profile(Profile(model=str(copy), temperature=1.5, model_sha256="0" * 64), tmp_path / "p.yaml")
    assert main(["predict", str(image_paths[0]), "--profile", str(target)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "sha256" in err


def test_overlay_starts_at_the_profiles_temperature(capsys, profile, image_paths, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for p in image_paths[:2]:
        cv2.imwrite(str(folder / p.name), cv2.resize(cv2.imread(str(p)), (160, 120)))
    out = tmp_path / "out.avi"
    code = main(["overlay", str(folder), "--profile", str(profile), "--no-show", "--save", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "final T 2.50, k 2" in capsys.readouterr().out
    assert out.stat().st_size > 0


def test_export_folds_the_profiles_temperature(capsys, profile, tmp_path, image_paths, model_path):
    import onnxruntime as ort

    from yolo_probs import YoloProbs, softmax

    target = tmp_path / "folded.onnx"
    assert main(["export", "--profile", str(profile), "--output", str(target)]) == 0
    assert "T=2.5 folded" in capsys.readouterr().err
    meta = ort.InferenceSession(str(target)).get_modelmeta().custom_metadata_map
    assert float(meta["yolo_probs_temperature"]) == 2.5
    with YoloProbs(target) as folded, YoloProbs(model_path) as plain:
        a = folded.predict(str(image_paths[0]))[0].probs
        b = softmax(plain.predict(str(image_paths[0]))[0].logits, 2.5)
    np.testing.assert_allclose(a, b, atol=1e-5)
