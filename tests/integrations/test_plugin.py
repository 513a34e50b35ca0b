"""Plugin mode on an existing ultralytics.YOLO object."""

from __future__ import annotations

import numpy as np
import pytest
from ultralytics import YOLO

import yolo_probs
from yolo_probs import softmax


def test_attach_rescales_probs_exposes_logits_and_detach_restores(model_path, image_paths, tmp_path):
    model = YOLO(model_path)
    src = str(image_paths[3])
    plain = model(src, verbose=False)[0].probs.data.cpu().numpy().copy()

    assert yolo_probs.attach(model, temperature=3.0) is model
    r = model(src, verbose=False)[0]
    assert r.temperature == 3.0
    np.testing.assert_allclose(softmax(r.logits.cpu().numpy(), 1.0), plain, atol=1e-6)  # the real logits
    np.testing.assert_allclose(r.probs.data.cpu().numpy(), softmax(r.logits.cpu().numpy(), 3.0), atol=1e-6)
    assert r.probs.top1conf < plain.max()  # T > 1 softens
    assert r.plot().shape[2] == 3  # Ultralytics' own drawing uses the rescaled probs
    r.save_txt(tmp_path / "r.txt")
    assert f"{r.probs.top1conf.item():.2f}" in (tmp_path / "r.txt").read_text()

    yolo_probs.attach(model, temperature=0.5)  # again: only the temperature changes
    assert (
        len(model.callbacks["on_predict_postprocess_end"])
        == len(YOLO(model_path).callbacks["on_predict_postprocess_end"]) + 1
    )
    assert model(src, verbose=False)[0].temperature == 0.5

    layer = model.predictor.model.model.model[-1].linear
    assert len(layer._forward_hooks) == 1
    yolo_probs.detach(model)
    assert len(layer._forward_hooks) == 0
    r = model(src, verbose=False)[0]
    np.testing.assert_allclose(r.probs.data.cpu().numpy(), plain, atol=1e-7)
    assert not hasattr(r, "temperature")


def test_attach_refuses_pose_models_and_bad_temperatures(model_path):
    from yolo_probs import ConfigError, ModelError

    with pytest.raises(ModelError, match="'pose' model, not a classifier"):  # detectors: test_plugin_boxes.py
        yolo_probs.attach(YOLO("yolo26n-pose.yaml", verbose=False))
    with pytest.raises(ConfigError):
        yolo_probs.attach(YOLO(model_path), temperature=-1)


def test_attach_a_profile_applies_its_calibrator_and_gives_predictions(model_path, image_paths, tmp_path):
    from yolo_probs.api.profile import Profile, save_profile

    path = save_profile(Profile(model=str(model_path), temperature=2.5), tmp_path / "p.yaml")
    model = yolo_probs.attach(YOLO(model_path), profile=path)
    r = model(str(image_paths[1]), verbose=False)[0]
    assert r.temperature == 2.5 and r.prediction.temperature == 2.5 and r.prediction.top1 == r.probs.top1
    np.testing.assert_allclose(r.probs.data.cpu().numpy(), softmax(r.logits.cpu().numpy(), 2.5), atol=1e-6)
    assert (
        yolo_probs.attach(model, temperature=1.0, profile=path)(str(image_paths[1]), verbose=False)[0].temperature == 1
    )
    yolo_probs.detach(model)
