"""YoloProbs on real Ultralytics models: parity with Ultralytics' own probabilities, threads, hooks."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import DEVICE, random_frames
from yolo_probs import (
    BackendOutput,
    ConfigError,
    ModelError,
    Prediction,
    SourceError,
    TemperatureScaling,
    YoloProbs,
    softmax,
)
from yolo_probs.inputs.sources import InputFailure


def ultralytics_probs(yolo, source, **kwargs) -> list[np.ndarray]:
    return [r.probs.data.cpu().numpy() for r in yolo.predict(source, verbose=False, **kwargs)]


@pytest.fixture(scope="module")
def yaml_models():
    """Untrained YOLOv8/11/26 classifiers built from YAML, deterministic with a seed."""
    from ultralytics import YOLO

    models = {}
    for name in ("yolo26n-cls.yaml", "yolo11n-cls.yaml", "yolov8n-cls.yaml"):
        torch.manual_seed(0)
        models[name] = YOLO(name, verbose=False)
    return models


def test_parity_with_ultralytics_on_the_shipped_model(clf, image_paths):
    from ultralytics import YOLO

    # A folder, so that Ultralytics also runs batches of 1 (a list would be one batch: other GPU kernels).
    preds = clf.predict(str(image_paths[0].parent))
    expected = ultralytics_probs(YOLO(clf.backend.yolo.ckpt_path), str(image_paths[0].parent), device=DEVICE)
    assert len(preds) == len(expected) == len(image_paths)
    for p, e in zip(preds, expected, strict=True):
        np.testing.assert_allclose(softmax(p.logits, 1.0), e, atol=1e-6)
        np.testing.assert_allclose(p.probs, e, atol=1e-6)
        assert p.top1 == int(np.argmax(e)) and p.logits_source == "hook"
    # ...and the model is real: each shipped image is named after its digit.
    assert [p.names[p.top1] for p in preds] == [p.stem.split("_")[1] for p in image_paths]


@pytest.mark.parametrize("name", ["yolo26n-cls.yaml", "yolo11n-cls.yaml", "yolov8n-cls.yaml"])
@pytest.mark.parametrize("batch", [1, 3])
def test_parity_on_every_yolo_generation_and_batch_size(yaml_models, name, batch):
    yolo = yaml_models[name]
    frames = random_frames(4, seed=1)
    with YoloProbs(yolo, imgsz=64, batch=batch, device=DEVICE) as c:
        preds = c.predict(frames)
    expected = ultralytics_probs(yolo, frames, imgsz=64, device=DEVICE)
    assert len(preds) == 4
    for p, e in zip(preds, expected, strict=True):
        np.testing.assert_allclose(p.probs, e, atol=1e-6)


def test_logits_are_the_models_own_logits(model_path, image_paths):
    """Independent of the hook: run the model by hand on Ultralytics' own transforms (on the CPU, no TF32)."""
    from ultralytics.data.augment import classify_transforms

    image = Image.open(image_paths[1]).convert("RGB")
    with YoloProbs(model_path, device="cpu") as clf:
        pred = clf.predict(str(image_paths[1]))[0]
        x = classify_transforms(clf.backend.yolo.overrides.get("imgsz", 64))(image)[None]
        model = clf.backend.yolo.model.float().eval()
        with torch.no_grad():
            _, logits = model(x)
    np.testing.assert_allclose(pred.logits, logits[0].numpy(), atol=1e-4)


@pytest.mark.parametrize("t", [0.5, 2.0, 7.0])
def test_temperature_is_applied_to_the_captured_logits(model_path, image_paths, t):
    with YoloProbs(model_path, temperature=t, top_k=3, device=DEVICE) as c:
        p = c.predict(str(image_paths[0]))[0]
    assert p.temperature == t and len(p.top) == 3
    np.testing.assert_allclose(p.probs, torch.softmax(torch.from_numpy(p.logits).double() / t, 0).numpy(), atol=1e-6)
    assert [c.prob for c in p.top] == sorted((c.prob for c in p.top), reverse=True)


def test_min_prob_and_top_k_filter(model_path, image_paths):
    with YoloProbs(model_path, top_k=3, min_prob=0.5, device=DEVICE) as c:
        p = c.predict(str(image_paths[0]))[0]
    assert len(p.top) == 1 and p.top[0].prob >= 0.5
    assert len(p.top5) == 5  # Ultralytics' meaning: the five best, whatever top_k is


def test_threads_each_get_their_own_logits(model_path, image_paths):
    with YoloProbs(model_path, device=DEVICE) as c:
        sequential = {str(p): c.predict(str(p))[0].logits for p in image_paths}
        results: dict[str, list[np.ndarray]] = {str(p): [] for p in image_paths}
        errors: list[BaseException] = []
        start = threading.Barrier(len(image_paths))

        def work(path: str) -> None:
            try:
                start.wait()
                for _ in range(3):
                    results[path].append(c.predict(path)[0].logits)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(str(p),)) for p in image_paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    for path, runs in results.items():
        assert len(runs) == 3
        for logits in runs:
            np.testing.assert_array_equal(logits, sequential[path])


def test_hooks_do_not_pile_up_and_are_removed_on_close(model_path, image_paths):
    c = YoloProbs(model_path, device=DEVICE)
    for _ in range(3):
        c.predict(str(image_paths[0]))
    layer = c.backend._capture.module
    assert len(layer._forward_hooks) == 1
    c.close()
    assert len(layer._forward_hooks) == 0
    assert c.predict(str(image_paths[0]))[0].top1 == 0  # usable again after close
    c.close()


def test_stream_is_a_generator_over_video_frames(clf, video, image_paths):
    gen = clf.predict(str(video), stream=True)
    assert isinstance(gen, types.GeneratorType)
    preds = list(gen)
    assert [p.frame for p in preds] == list(range(len(image_paths))) and {p.source for p in preds} == {str(video)}
    assert all(isinstance(p, Prediction) for p in preds)


def test_arrays_pil_and_tensors(clf, image_paths):
    import cv2

    bgr = cv2.imread(str(image_paths[2]))
    from_path = clf.predict(str(image_paths[2]))[0]
    from_array = clf.predict(bgr)[0]
    from_pil = clf.predict(Image.open(image_paths[2]))[0]
    np.testing.assert_allclose(from_array.logits, from_path.logits, atol=1e-6)
    np.testing.assert_allclose(from_pil.logits, from_path.logits, atol=1e-6)
    tensor = torch.rand(2, 3, 64, 64)
    preds = clf.predict(tensor)
    assert [p.source for p in preds] == ["tensor0", "tensor1"]


def test_bad_input_raises_in_predict_and_is_yielded_by_predict_each(clf, bad_inputs, image_paths):
    with pytest.raises(SourceError, match="truncated JPEG"):
        clf.predict(str(bad_inputs["truncated JPEG"]))
    items = list(clf.predict_each([str(image_paths[0]), str(bad_inputs["text file named .jpg"]), str(image_paths[1])]))
    assert [type(i).__name__ for i in items] == ["Prediction", "InputFailure", "Prediction"]
    assert isinstance(items[1], InputFailure)


def test_bad_models(tmp_path):
    with pytest.raises(ModelError, match=r"model file not found: .*nope/model\.pt; pass the path") as info:
        YoloProbs(tmp_path / "nope" / "model.pt")
    assert info.value.option == "model" and "--model" not in str(info.value)  # the CLI adds its own flag
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04 definitely not a checkpoint")
    with pytest.raises(ModelError, match=r"corrupt.pt is not a model file"):
        YoloProbs(corrupt)
    with pytest.raises(ModelError, match="is a 'pose' model, not a classifier"):  # detection: tests/api/test_boxes.py
        YoloProbs("yolo26n-pose.yaml")


def test_default_model_offline_says_to_pass_model():
    with pytest.raises(ModelError, match=r"could not be downloaded.*pass a local checkpoint"):
        YoloProbs()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 0}, "top-k"),
        ({"min_prob": 1.5}, "min_prob"),
        ({"batch": 0}, "batch"),
        ({"imgsz": -3}, "imgsz"),
    ],
)
def test_bad_options_fail_before_loading_the_model(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        YoloProbs("does-not-matter.pt", **kwargs)


def test_batch_of_8_decodes_in_threads_and_gives_the_same_results(model_path, image_paths, video):
    sources = [str(image_paths[0].parent), str(video)]
    with YoloProbs(model_path, device="cpu") as one, YoloProbs(model_path, device="cpu", batch=8) as eight:
        a, b = one.predict(sources), eight.predict(sources)
    assert [(p.source, p.frame) for p in a] == [(p.source, p.frame) for p in b]
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(p.logits, q.logits, atol=1e-4)


# -- every argument checked before the model loads, naming it (issue 24) --


class _Constant:
    """A backend of our own: fixed logits for two classes."""

    names = ("cat", "dog")
    folded_temperature = None
    device_type = "cpu"

    def run(self, images, *, features=False):
        return BackendOutput(np.tile(np.float32([2.0, 0.0]), (len(images), 1)), "output")

    def run_tensor(self, batch, *, features=False):
        return self.run(list(batch), features=features)

    def close(self):
        pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"calibrator": "x"}, "calibrator must be a calibrator"),
        ({"calibrator": object()}, "calibrator must be a calibrator"),
        ({"decisions": "x"}, "decisions must be a list of decision rules"),
        ({"decisions": [5]}, "decisions must be decision rules with an apply"),
        ({"decisions": {"ood": {}}}, "decisions must be a list"),
        ({"half": "x"}, "half must be True or False"),
        ({"top_k": 0}, "top-k must be"),
        ({"min_prob": float("nan")}, "min_prob must be"),
        ({"temperature": float("nan")}, "temperature must be"),
    ],
    ids=repr,
)
def test_bad_arguments_are_refused_before_the_model_loads(kwargs, match, tmp_path) -> None:
    with pytest.raises(ConfigError, match=match):  # not the ModelError of the missing file: checked first
        YoloProbs(tmp_path / "missing-cls.pt", **kwargs)


@pytest.mark.parametrize("model", [None, 5, 1.5, True, b"x.pt"])
def test_a_model_that_is_no_model_at_all_is_named(model) -> None:
    with pytest.raises(ModelError, match=r"^model must be a checkpoint or export path"):
        YoloProbs(model)


def test_the_calibrator_and_options_stay_checked_after_construction() -> None:
    clf = YoloProbs(_Constant())
    clf.calibrator = TemperatureScaling(2.0)
    assert clf.temperature == 2.0
    for attr, value, match in [
        ("calibrator", "x", "calibrator must be"),
        ("calibrator", None, "calibrator must be"),
        ("temperature", "x", "temperature must be"),
        ("top_k", 0, "top-k must be"),
        ("min_prob", 2.0, "min_prob must be"),
    ]:
        with pytest.raises(ConfigError, match=match):
            setattr(clf, attr, value)
    assert clf.temperature == 2.0  # nothing half-set
    p = clf.predict(np.zeros((8, 8, 3), np.uint8))[0]
    assert p.names == ("cat", "dog") and p.temperature == 2.0


@pytest.mark.parametrize("path", [None, 5, ["p.yaml"]])
def test_from_profile_wants_a_path(path) -> None:
    with pytest.raises(ConfigError, match="path must be the path of a profile") as caught:
        YoloProbs.from_profile(path)
    assert caught.value.option == "profile"
